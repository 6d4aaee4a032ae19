"""Signals: SIGTERM/SIGINT stop a trial promptly and keep its finished patients; no worker,
forkserver or resource tracker outlives a killed command; SIGTERM stops the browser app's server."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

TRIAL = [sys.executable, "-m", "sim.cli", "trial", "gastric-peritoneal-ip", "--patients", "400", "--workers", "2",
         "--set", "width=50", "--set", "height=50", "--json"]
"""Long enough (about a minute) that the signal, 3 s after the workers start, always meets running patients
(40 patients could all finish first on an idle machine)."""


def as_from_a_terminal():
    """In the child: Ctrl-C's default disposition. A shell that runs the tests in the background
    (``pytest &``) passes SIGINT on ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_trial(out):
    proc = subprocess.Popen([*TRIAL, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=as_from_a_terminal)
    deadline = time.time() + 60
    while len(psutil.Process(proc.pid).children(recursive=True)) < 4 and time.time() < deadline:
        time.sleep(0.2)  # resource tracker, forkserver and two workers
    family = psutil.Process(proc.pid).children(recursive=True)
    assert len(family) >= 4
    time.sleep(3)  # let some patients finish
    return proc, family


def assert_all_gone(family, timeout=15):
    gone, alive = psutil.wait_procs(family, timeout=timeout)
    assert not alive, [p.cmdline()[-1][:60] for p in alive]


@pytest.mark.parametrize("sig, status, word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_stopped_trial_keeps_finished_patients_and_its_workers_end(tmp_path, sig, status, word):
    out = tmp_path / "t"
    proc, family = start_trial(out)
    started = time.time()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert time.time() - started < 20  # prompt: the running patients are abandoned, not awaited
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("cartsim")]
    assert proc.returncode == status and len(lines) == 1 and word in lines[0], err[-500:]
    kept = int(lines[0].split(";")[1].split()[0])
    if kept:
        assert json.loads((out / "summary.json").read_text())["n_screened"] == kept
    assert "Traceback" not in err and "leaked" not in err
    assert_all_gone(family)


def test_killed_trial_leaves_no_process_behind(tmp_path):
    proc, family = start_trial(tmp_path / "t")
    proc.kill()
    proc.wait()
    assert_all_gone(family)


@pytest.mark.parametrize("kill", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_run_leaves_no_figure_helper_and_writes_nothing(tmp_path, kill):
    """``cartsim run``'s figure helper (started when a core is free) ends with it: killed by a stopped run,
    or on its own when the run is killed outright (its pipe closes)."""
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "run", "--out", str(tmp_path / "o")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CARTSIM_FIGURE_HELPER": "1"})  # a helper whatever the load
    deadline = time.time() + 3
    while not psutil.Process(proc.pid).children() and time.time() < deadline:
        time.sleep(0.05)
    helpers = psutil.Process(proc.pid).children()
    assert len(helpers) == 1, "the run started its figure helper"
    proc.send_signal(kill)
    _, err = proc.communicate(timeout=60)
    if kill == signal.SIGTERM:
        assert proc.returncode == 143 and "nothing was written" in err
    assert_all_gone(helpers, timeout=60)
    assert list(tmp_path.iterdir()) == []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_ending_cartsim_viz_stops_the_browser_app_server(signum):
    """SIGTERM: cartsim stops its server and exits 143, as every command does; SIGKILL: the kernel tells
    the server (Linux)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "viz", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 90
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("the app never listened")
    family = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signum)
    assert proc.wait(timeout=30) == (143 if signum == signal.SIGTERM else -signal.SIGKILL)
    assert_all_gone(family)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_terminated_sweep_keeps_its_runs_and_its_workers_end(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('base = "gastric-cldn18-iv"\nreplicates = 40\n[set]\nwidth = 50\nheight = 50\n')
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "sweep", str(path), "--out", str(out), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 90
    while not list(out.glob("part-*.parquet")) and time.time() < deadline:
        time.sleep(0.2)
    family = psutil.Process(proc.pid).children(recursive=True)
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("cartsim")]
    assert proc.returncode == 143 and len(lines) == 1 and "terminated (SIGTERM)" in lines[0], err[-500:]
    kept = len(list(out.glob("part-*.parquet")))
    assert f"{kept} of 40 runs are kept" in lines[0] and "--resume" in lines[0]
    assert_all_gone(family)


def test_a_stop_during_the_model_imports_waits_for_them_and_then_stops_cleanly():
    """SIGTERM while NumPy's C extensions load would surface as an ImportError (exit 1, a traceback);
    held back until the imports are done, it arrives as the clean stop (``Terminated``)."""
    from sim import cli

    previous = signal.signal(signal.SIGTERM, cli._on_sigterm)
    reached_the_end = False
    try:
        with pytest.raises(cli.Terminated):
            with cli._stops_held():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                reached_the_end = True
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert reached_the_end


STOP_AS_NUMPY_LOADS = """
import os, signal, sys
from sim import cli


class StopAsNumPyLoads:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGTERM)


sys.meta_path.insert(0, StopAsNumPyLoads())
status = cli.main(sys.argv[2:])
print("loaded" if sys.argv[1] in sys.modules else "cut short")
sys.exit(status)
"""


@pytest.mark.parametrize("argv, module", [
    (["run"], "sim.model"),
    (["trial", "gastric-cldn18-iv", "--patients", "2"], "sim.trial"),
    (["sweep", "no-such-sweep.toml"], "sim.sweep"),
    (["calibrate", "no-such-calibration.toml"], "sim.calibration"),
])
def test_a_stop_while_a_command_loads_its_modules_lets_them_load_then_stops_cleanly(tmp_path, argv, module):
    """A SIGTERM that lands while ``run``, ``trial``, ``sweep`` or ``calibrate`` import NumPy and the model waits
    for the imports, then stops the command with its one line and 143 (cut into NumPy's C extensions
    it would surface as an ImportError and a traceback)."""
    proc = subprocess.run([sys.executable, "-c", STOP_AS_NUMPY_LOADS, module, *argv], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 143, proc.stderr[-500:]
    assert proc.stdout.split() == ["loaded"]
    assert proc.stderr.strip().splitlines() == ["cartsim: terminated (SIGTERM); nothing was written"]
    assert list(tmp_path.iterdir()) == []


def test_a_stop_python_swallows_in_a_weakref_callback_still_stops_the_run(tmp_path, monkeypatch, capsys):
    """Raised inside a weakref callback (Mesa's agent sets run them as CAR-T cells die), a SIGTERM's
    ``Terminated`` cannot propagate: Python prints it as ignored and goes on. The run keeps it and
    stops after that hour: 143, its one line, nothing written."""
    import weakref

    from sim import cli
    from sim.model import CARTModel

    step, hours, refs = CARTModel.step, [], []

    class Referent:
        pass

    def stop(_):
        raise cli.Terminated()

    def step_with_a_stop_inside_a_callback(model):
        hours.append(model.steps)
        if model.steps == 5:
            referent = Referent()
            refs.append(weakref.ref(referent, stop))
            del referent  # the callback runs here, and its exception is swallowed
        step(model)

    monkeypatch.setattr(CARTModel, "step", step_with_a_stop_inside_a_callback)
    status = cli.main(["run", "--days", "3", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 143, err[-500:]
    assert "terminated (SIGTERM); nothing was written" in err and "Exception ignored" not in err
    assert list(tmp_path.iterdir()) == []
    assert max(hours) == 5  # it stopped after that hour, not 3 days later
