"""The `cartsim` command line: outputs, JSON summary keys, bad input -> exit 2 and nothing written."""

import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sim import CARTScenario
from sim.cli import main

SUMMARY_KEYS = ["final_tumor_cells", "best_response", "best_pct_change", "pseudo_progression",
                "antigen_negative_fraction_end", "cart_peak", "cart_peak_day", "cart_end",
                "normal_cells_killed_fraction", "crs_grade", "relapse", "seed"]
FAST = ["--set", "width=60", "--set", "height=60", "--days", "28"]


def test_run_writes_outputs_and_json(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", *FAST, "--seed", "3", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(SUMMARY_KEYS) <= set(summary) and summary["seed"] == 3
    assert {p.name for p in out.iterdir()} == {"timeseries.csv", "scans.csv", "summary.json", "scenario.toml",
                                               "timecourse.png", "lattice.png"}
    assert json.loads((out / "summary.json").read_text()) == summary
    assert (out / "timecourse.png").stat().st_size > 10_000


def test_readable_summary(tmp_path, capsys):
    assert main(["run", "gastric-peritoneal-ip", *FAST, "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "best response" in text and "intraperitoneal" in text


def test_scenarios_lists_presets(capsys):
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("default") and any(line.startswith("gastric-peritoneal-ip") for line in lines)
    assert main(["scenarios", "--parameters"]) == 0
    assert "car_affinity" in capsys.readouterr().out


def test_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert main(["run", *FAST, "--out", str(out)]) == 2
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


BAD = [["--set", "dose=-1"], ["--set", "antigen_negative_fraction=1.5"], ["--set", "route=teleport"],
       ["--set", "target=NOPE"], ["--set", "no_such_parameter=1"], ["--set", "width=3"], ["--set", "dose=abc"],
       ["--set", "suppression=-0.1"], ["BROKEN"], ["no-such-scenario"], ["--days", "-5"], ["--seed", "abc"],
       ["--set", "debulking_fraction=2"], ["--set", "site=moon"], ["--set", "dose"], ["--bogus-flag"]]


@pytest.mark.parametrize("args", BAD, ids=lambda a: " ".join(a))
def test_bad_input_exit_2_one_line_nothing_written(tmp_path, args):
    broken = tmp_path / "broken.toml"
    broken.write_text("dose = [1, \nroute = ")
    args = [str(broken) if a == "BROKEN" else a for a in args]
    out = tmp_path / "o"
    p = subprocess.run([sys.executable, "-m", "sim.cli", "run", *args, "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("argv", [["--help"], ["scenarios"], ["scenarios", "--parameters"], ["run", "--help"]])
def test_light_commands_import_no_heavy_library(argv):
    code = ("import sys\nfrom sim.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('mesa', 'pandas', 'scipy', 'matplotlib', 'numpy') if m in sys.modules)\n"
            "print(heavy, file=sys.stderr)" % (argv,))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stderr.strip().splitlines()[-1] == "[]", p.stderr


def test_sim_names_load_on_first_use():
    import sim

    assert {"CARTModel", "CARTScenario", "load_scenario", "run", "run_trial", "run_sweep"} <= set(dir(sim))
    assert sim.run_trial.__module__ == "sim.trial"


def test_run_ending_before_the_first_scan_is_not_evaluable(tmp_path, capsys):
    assert main(["run", "--set", "width=40", "--set", "height=40", "--days", "27", "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "NE (not evaluable: the run ends on day 27, before the first follow-up scan on day 28)" in text
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["best_response"] == "NE"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(CARTScenario.parameter_names() + ["no_such", ""]), text=st.text(max_size=25))
@example(name="no_such", text="a\nb").via("a line break in the value once broke the one-line message")
def test_any_set_is_refused_in_one_line_or_runs(tmp_path, capsys, monkeypatch, name, text):
    import sim.model

    class Accepted(Exception):
        pass

    def accepted(*args, **kwargs):
        raise Accepted

    monkeypatch.setattr(sim.model, "CARTModel", accepted)  # the run would start here
    try:
        status = main(["run", "--set", f"{name}={text}", "--out", str(tmp_path / "o")])
    except Accepted:
        return
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and err and err[-1].startswith("cartsim: ") and "Traceback" not in "\n".join(err)
    assert not (tmp_path / "o").exists()


def test_a_reader_that_goes_away_ends_the_listing_quietly():
    """`cartsim scenarios --parameters | head`: no error line when the pipe closes, SIGPIPE's status."""
    import signal

    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written
    p = subprocess.run([sys.executable, "-m", "sim.cli", "scenarios", "--parameters"], stdout=write,
                       stderr=subprocess.PIPE, text=True)
    os.close(write)
    assert p.returncode == 128 + signal.SIGPIPE and p.stderr == "", p.stderr
