"""Sweeps: identical tables across backends and worker counts, kill-and-resume, bad files, SALib."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from sim.sweep import load_sweep, read_sweep, run_sweep

SWEEP = """
base = "gastric-peritoneal-iv"
replicates = 2
seed = 7
[set]
width = 40
height = 40
days = {days}
[grid]
route = ["intravenous", "intraperitoneal"]
dose = [1e8, 5e8]
"""


@pytest.fixture
def sweep_file(tmp_path):
    path = tmp_path / "routes.toml"
    path.write_text(SWEEP.format(days=28))
    return path


def test_same_table_for_one_and_two_workers_and_dask(tmp_path, sweep_file):
    one = run_sweep(sweep_file, tmp_path / "one", workers=1, progress=False)
    two = run_sweep(sweep_file, tmp_path / "two", workers=2, progress=False)
    dask = run_sweep(sweep_file, tmp_path / "dask", backend="dask", workers=2, progress=False)
    assert len(one) == 8 and one.run.tolist() == list(range(8))
    pd.testing.assert_frame_equal(one, two)
    pd.testing.assert_frame_equal(one, dask)
    assert one.seed.nunique() == 8                       # spawned per run
    assert set(one.param_route) == {"intravenous", "intraperitoneal"}
    assert pd.read_parquet(tmp_path / "one").shape == one.shape


def test_killed_sweep_resumes_to_the_same_table(tmp_path):
    path = tmp_path / "long.toml"
    path.write_text(SWEEP.format(days=42).replace("replicates = 2", "replicates = 4"))
    reference = run_sweep(path, tmp_path / "ref", workers=2, progress=False)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "sweep", str(path), "--out", str(out), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while len(list(out.glob("part-*.parquet"))) < 3 and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = len(list(out.glob("part-*.parquet")))
    assert 3 <= kept < 16, "the sweep should have been killed part-way"
    assert len(read_sweep(out)) == kept                  # every kept part is readable (no half-written part)
    with pytest.raises(Exception, match="--resume"):
        run_sweep(path, out, workers=2, progress=False)  # refuses to start over a sweep's results
    resumed = run_sweep(path, out, workers=2, resume=True, progress=False)
    pd.testing.assert_frame_equal(resumed, reference)
    assert resumed.run.is_unique and len(resumed) == 16


def test_sobol_sample_and_indices(tmp_path):
    path = tmp_path / "sobol.toml"
    path.write_text("""
base = "gastric-cldn18-iv"
seed = 3
outputs = ["best_pct_change", "antigen_negative_fraction_end"]
[set]
width = 40
height = 40
days = 28
[sample]
method = "sobol"
n = 4
[sample.bounds]
suppression = [0.0, 1.0]
antigen_negative_fraction = [0.0, 0.5]
""")
    sweep = load_sweep(path)
    assert sweep.n_runs == 4 * (2 + 2)
    run_sweep(sweep, tmp_path / "o", workers=2, progress=False)
    indices = pd.read_csv(tmp_path / "o" / "_analysis" / "sobol_best_pct_change.csv")
    assert list(indices.parameter) == ["suppression", "antigen_negative_fraction"]
    assert {"S1", "ST", "S1_conf", "ST_conf"} <= set(indices.columns)
    assert (tmp_path / "o" / "_analysis" / "sobol.png").exists()


BAD_SWEEPS = {
    "unknown parameter": "[grid]\nnot_a_parameter = [1, 2]\n",
    "bounds reversed": '[sample]\nmethod = "sobol"\nn = 4\n[sample.bounds]\nsuppression = [0.9, 0.1]\n',
    "zero replicates": "replicates = 0\n",
    "malformed": "[grid\nroute = ",
    "bad value": "[grid]\ndose = [-1.0]\n",
    "unknown base": 'base = "no-such-scenario"\n',
    "unknown method": '[sample]\nmethod = "lhs"\nn = 4\n[sample.bounds]\ndose = [0, 1e9]\n',
    "output typo": 'outputs = ["respondd"]\n',
    "sobol n not a power of 2": '[sample]\nmethod = "sobol"\nn = 6\n[sample.bounds]\ndose = [0, 1e9]\n',
    "bound out of range": '[sample]\nmethod = "sobol"\nn = 4\n[sample.bounds]\nsuppression = [0.2, 1.5]\n',
    "base not a name": "base = 5\n",
    "binary": b"\xff\xfe\x00\x01",
}
FRAGMENTS = {"output typo": "'respondd' is not a numeric run result", "sobol n not a power of 2": "a power of 2",
             "bound out of range": "[sample.bounds] suppression = [0.2, 1.5]: parameter suppression: value 1.5",
             "base not a name": "base = 5; allowed", "binary": "UTF-8"}


@pytest.mark.parametrize("name", BAD_SWEEPS)
def test_bad_sweep_files_exit_2_nothing_written(tmp_path, name):
    path = tmp_path / "bad.toml"
    text = BAD_SWEEPS[name]
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "o"
    p = subprocess.run([sys.executable, "-m", "sim.cli", "sweep", str(path), "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert FRAGMENTS.get(name, "") in lines[0] and str(path) in lines[0]
    assert not out.exists()


def cli_sweep(*args):
    p = subprocess.run([sys.executable, "-m", "sim.cli", "sweep", *map(str, args)], capture_output=True, text=True,
                       timeout=120)
    return p.returncode, [line for line in p.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("scheduler, fragment", [("not a url", "allowed: a Dask scheduler address"),
                                                 ("tcp://127.0.0.1:9", "no Dask scheduler answered")])
def test_bad_scheduler_refused_quickly_nothing_written(tmp_path, sweep_file, scheduler, fragment):
    start = time.time()
    rc, err = cli_sweep(sweep_file, "--out", tmp_path / "o", "--scheduler", scheduler)
    assert rc == 2 and len(err) == 1 and fragment in err[0]
    assert time.time() - start < 30 and not (tmp_path / "o").exists()


def test_sweep_out_at_a_file(tmp_path, sweep_file):
    (tmp_path / "f").write_text("x")
    rc, err = cli_sweep(sweep_file, "--out", tmp_path / "f")
    assert rc == 2 and len(err) == 1 and "is a file" in err[0]


def test_resume_refuses_a_corrupt_folder(tmp_path, sweep_file):
    out = tmp_path / "o"
    sweep_file.write_text(SWEEP.format(days=1).replace("replicates = 2", "replicates = 1"))
    run_sweep(sweep_file, out, workers=1, progress=False)
    (out / "part-000001.parquet").write_text("garbage")
    rc, err = cli_sweep(sweep_file, "--out", out, "--resume")
    assert rc == 2 and len(err) == 1 and "part-000001.parquet is not a readable Parquet file" in err[0]
    (out / "_manifest.json").write_text("{broken")
    rc, err = cli_sweep(sweep_file, "--out", out, "--resume")
    assert rc == 2 and len(err) == 1 and "_manifest.json is missing or unreadable" in err[0]


def test_concurrent_resume_on_one_folder_is_refused(tmp_path, sweep_file):
    out = tmp_path / "o"
    sweep_file.write_text(SWEEP.format(days=28).replace("replicates = 2", "replicates = 10"))
    first = subprocess.Popen([sys.executable, "-m", "sim.cli", "sweep", str(sweep_file), "--out", str(out),
                              "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not (out / "_manifest.json").exists() and time.time() < deadline:
            time.sleep(0.1)
        rc, err = cli_sweep(sweep_file, "--out", out, "--resume")
        assert rc == 2 and len(err) == 1 and f"another cartsim process (pid {first.pid})" in err[0]
    finally:
        first.terminate()
        first.wait(timeout=60)
    assert first.returncode == 143


def test_a_worker_on_other_code_stops_the_sweep(tmp_path, sweep_file, monkeypatch):
    import sim.sweep
    from sim.sweep import SweepStopped

    sweep_file.write_text(SWEEP.format(days=1))
    sweep = load_sweep(sweep_file)
    monkeypatch.setattr(sim.sweep, "model_version", lambda: "client-version")  # the workers keep the real one
    with pytest.raises(SweepStopped, match="a worker runs model version .* this process client-version"):
        run_sweep(sweep, tmp_path / "o", workers=1, progress=False)
    assert not list((tmp_path / "o").glob("part-*"))


@pytest.fixture
def cluster_with_a_stale_worker(tmp_path):
    """A Dask scheduler and one worker running a copy of cartsim whose code differs by one comment."""
    import shutil
    import socket
    from pathlib import Path

    import sim

    stale = tmp_path / "stale"
    shutil.copytree(Path(sim.__file__).parent, stale / "sim")
    shutil.copytree(Path(sim.__file__).parents[1] / "seeds", stale / "sim" / "seeds")
    with open(stale / "sim" / "tissue.py", "a") as f:
        f.write("# a stale copy\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    procs = [subprocess.Popen([*dask, "--port", str(port), "--no-dashboard"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=tmp_path)]
    procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                                   "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  cwd=stale, env={**os.environ, "PYTHONPATH": str(stale)}))
    from sim.sweep import SweepError, check_scheduler

    deadline = time.time() + 60
    while True:
        try:
            check_scheduler(address)
            break
        except SweepError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)
    yield address
    for p in procs:
        p.kill()
        p.wait(timeout=30)


def test_a_dask_worker_on_other_code_stops_the_sweep(tmp_path, sweep_file, cluster_with_a_stale_worker):
    sweep_file.write_text(SWEEP.format(days=1))
    rc, err = cli_sweep(sweep_file, "--out", tmp_path / "o", "--scheduler", cluster_with_a_stale_worker)
    assert rc == 1 and "a worker runs model version" in err[-1] and "continue with --resume" in err[-1]
    assert not list((tmp_path / "o").glob("part-*"))


def test_dask_giving_up_on_a_run_stops_the_sweep():
    import concurrent.futures as cf

    from distributed import KilledWorker

    from sim.sweep import SweepStopped, _result_of

    future = cf.Future()
    future.set_exception(KilledWorker("run_one-123", None, 3))
    with pytest.raises(SweepStopped, match="after 4 workers died running it"):
        _result_of(future)


def test_plausibility_warnings_once_each_on_stderr_and_in_the_manifest(tmp_path, capsys):
    """A route that does not reach the site warns once for the whole sweep, however many runs it concerns."""
    import json

    path = tmp_path / "odd.toml"
    path.write_text('base = "gastric-cldn18-iv"\nreplicates = 2\n[set]\nwidth = 40\nheight = 40\ndays = 1\n'
                    '[grid]\nroute = ["intravenous", "intraventricular"]\ndose = [1e8, 2e8]\n')
    run_sweep(path, tmp_path / "out", workers=1, progress=False)
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cartsim: warning:")]
    assert len(warnings) == 1 and "intraventricular" in warnings[0] and "(2 of 4 design points)" in warnings[0]
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert manifest["warnings"] == [warnings[0].removeprefix("cartsim: warning: ")]


def test_a_plausible_sweep_warns_nothing(sweep_file):
    assert load_sweep(sweep_file).warnings == []


def test_model_version_does_not_depend_on_where_the_tables_are_installed(tmp_path):
    """A source checkout keeps seeds/ beside sim/, an installed wheel puts them inside (sim/seeds):
    the same code must give the same version, or a cluster's workers would refuse the client's sweep."""
    import shutil
    from pathlib import Path

    import sim.sweep
    from sim import tables
    from sim.sweep import model_version, source_digest

    package = Path(sim.sweep.__file__).parent
    beside, inside = tmp_path / "checkout", tmp_path / "wheel"
    for root in (beside, inside):
        shutil.copytree(package, root / "sim", ignore=shutil.ignore_patterns("__pycache__", "seeds"))
    shutil.copytree(tables.seeds_dir(), beside / "seeds")
    shutil.copytree(tables.seeds_dir(), inside / "sim" / "seeds")
    assert source_digest(beside / "sim", beside / "seeds") == source_digest(inside / "sim", inside / "sim" / "seeds")
    assert source_digest(beside / "sim", beside / "seeds") == model_version()
    (inside / "sim" / "seeds" / "targets.toml").write_text(tables.seeds_dir().joinpath("targets.toml").read_text() + "\n# x\n")
    assert source_digest(inside / "sim", inside / "sim" / "seeds") != model_version()


def test_a_large_design_shows_progress_while_its_points_are_checked(tmp_path, capsys, monkeypatch):
    """Validating 100,000 points takes most of a minute: a bar shows it (small designs stay quiet)."""
    import sim.sweep

    path = tmp_path / "grid.toml"
    path.write_text('base = "gastric-cldn18-iv"\n[set]\nwidth = 40\nheight = 40\ndays = 3\n[grid]\ndose = [1e8, 2e8, 3e8]\n')
    load_sweep(path)
    assert "checking" not in capsys.readouterr().err
    monkeypatch.setattr(sim.sweep, "CHECK_BAR_POINTS", 3)
    assert load_sweep(path).n_runs == 3
    assert "grid: checking" in capsys.readouterr().err
