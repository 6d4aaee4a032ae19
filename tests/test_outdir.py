"""Output folders: refused before any simulation, staged per process, never lost, locked."""

import os
import subprocess
import sys

import pytest

from sim import outdir
from sim.cli import main
from sim.outdir import OutputError

FAST = ["--set", "width=60", "--set", "height=60", "--days", "10"]


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if a command starts simulating."""
    import sim.model

    def refuse(*args, **kwargs):
        raise AssertionError("simulated before the output folder was checked")

    monkeypatch.setattr(sim.model, "CARTModel", refuse)  # `cartsim run` builds its model here


def bad_paths(tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep")
    return {
        "under a regular file": (tmp_path / "a_file" / "out", "is a file"),
        "the file itself": (tmp_path / "a_file", "is a file"),
        "dangling symlink": (tmp_path / "dangling", "dangling symbolic link"),
        "300-byte name": (tmp_path / ("x" * 300), "at most 255"),
        "/proc": ("/proc/cartsim-out", "cannot create a folder"),
        "non-empty folder": (tmp_path / "full", "not empty"),
    }


@pytest.mark.parametrize("case", ["under a regular file", "the file itself", "dangling symlink", "300-byte name",
                                  "/proc", "non-empty folder"])
def test_run_refuses_bad_out_before_simulating(tmp_path, capsys, no_simulation, case):
    path, fragment = bad_paths(tmp_path)[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["run", *FAST, "--out", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err and "--out" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, not even a probe


def test_trial_refuses_bad_out_before_simulating(tmp_path, capsys, monkeypatch):
    import sim.trial

    monkeypatch.setattr(sim.trial, "run_trial", lambda *a, **k: pytest.fail("trial started"))
    (tmp_path / "a_file").write_text("x")
    assert main(["trial", "gastric-cldn18-iv", "--patients", "2", "--out", str(tmp_path / "a_file" / "o")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_a_taken_folder_sends_the_result_next_to_it(tmp_path):
    out = tmp_path / "run"
    with outdir.staging(out) as (tmp, final):
        (tmp / "summary.json").write_text("first")
        out.mkdir()  # another run finished into the same default name meanwhile
        (out / "summary.json").write_text("other")
    assert final == [tmp_path / "run-2"]
    assert (out / "summary.json").read_text() == "other" and (final[0] / "summary.json").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_two_default_runs_in_the_same_second_both_survive(tmp_path):
    command = [sys.executable, "-m", "sim.cli", "run", *FAST, "--set", "days=1", "--json"]
    procs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        p.communicate(timeout=120)
        assert p.returncode == 0
    folders = list((tmp_path / "cartsim-out").iterdir())
    assert len([f for f in folders if (f / "summary.json").exists()]) == 2


def test_leftover_staging_of_a_dead_process_is_cleaned(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    leftover = tmp_path / f"{outdir.STAGING_PREFIX}{dead}-abc"
    leftover.mkdir()
    mine = tmp_path / f"{outdir.STAGING_PREFIX}{os.getpid()}-def"
    mine.mkdir()
    with outdir.staging(tmp_path / "out") as (tmp, _):
        (tmp / "x").write_text("x")
    assert not leftover.exists() and mine.exists()


def test_lock_refuses_a_second_holder_and_leaves_no_empty_folder(tmp_path):
    out = tmp_path / "sweep"
    with outdir.lock(out):
        with pytest.raises(OutputError, match="another cartsim process"):
            with outdir.lock(out):
                pass
    assert not out.exists()  # created by the lock, nothing written: removed again


def test_a_write_failure_is_one_line(tmp_path, capsys, monkeypatch):
    import sim.cli

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "o"))

    monkeypatch.setattr(sim.cli, "_write", full)
    assert main(["run", "--set", "width=40", "--set", "height=40", "--days", "1", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"cartsim: cannot write the outputs: No space left on device ({tmp_path / 'o'})"


def test_two_concurrent_trials_into_one_folder(tmp_path):
    """The second trial is refused with one line while the first holds the folder; the first's
    results land in that folder (not beside it) and no lock file is left."""
    import signal
    import time

    out = tmp_path / "trial"
    command = [sys.executable, "-m", "sim.cli", "trial", "gastric-cldn18-iv", "--patients", "2", "--workers", "1",
               "--set", "width=60", "--set", "height=60", "--set", "days=28", "--json", "--out", str(out)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (out / outdir.LOCK_NAME).exists() and time.time() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGSTOP)  # hold the first trial inside its lock while the second starts
    try:
        second = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        first.send_signal(signal.SIGCONT)
    stdout, _ = first.communicate(timeout=300)
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 2 and len(lines) == 1 and "another cartsim process" in lines[0], second.stderr
    assert first.returncode == 0 and '"n_screened": 2' in stdout
    assert (out / "summary.json").exists() and not (out / outdir.LOCK_NAME).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trial"]


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_a_result_folder_has_the_permissions_of_a_made_folder(tmp_path, mask):
    """Staging is a private temporary folder; the result it becomes is made as mkdir makes folders (umask)."""
    old = os.umask(mask)
    try:
        with outdir.staging(tmp_path / "run") as (tmp, final):
            (tmp / "summary.json").write_text("{}")
        (tmp_path / "made").mkdir()
    finally:
        os.umask(old)
    assert final[0].stat().st_mode & 0o777 == (tmp_path / "made").stat().st_mode & 0o777 == 0o777 & ~mask
