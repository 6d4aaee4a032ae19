"""`cartsim calibrate`: the study finds a known optimum of a cheap model, resumes after SIGKILL,
writes scenario files the other commands accept, and refuses bad calibration files (one line, exit 2)."""

import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time
from functools import partial

import numpy as np
import optuna
import pytest

from sim.calibration import load_calibration, miss, run_calibration
from sim.cli import main
from sim.scenario import load_scenario

TINY = """
description = "tiny real model for tests"
patients = {patients}
seed = 3
validation_seeds = [4]
[set]
width = 40
height = 40
days = {days}
[parameters.bystander_kill_per_day]
low = 0.5
high = 10
log = true
[[targets]]
scenario = "gastric-cldn18-iv"
orr = [{low}, {high}]
"""

KNOWN_RATE = 4.0
"""The cheap model's ORR is bystander_kill_per_day / 8: the range 45-55% is met near 4 per day."""


def cheap_patient(params: dict) -> dict:
    """A stand-in for sim.trial.treat_patient: responds when the patient's own uniform draw
    (its seed: common random numbers) falls below bystander_kill_per_day / 8."""
    u = np.random.default_rng(params["seed"]).random()
    responded = u < params["bystander_kill_per_day"] / (2 * KNOWN_RATE)
    return {"biopsy_positive_share": 1.0, "eligible": True, "best_response": "PR" if responded else "PD",
            "normal_cells_killed_fraction": 0.0, "crs_grade": 1, "pseudo_progression": False, "relapse": False,
            "pfs_days": 56, "progressed": not responded, "response_day": 28.0 if responded else None,
            "dor_days": 28.0 if responded else None, "cart_peak_day": 9,
            "course_days": [0, 28], "course_pct": [0.0, -40.0 if responded else 30.0],
            "course_calls": [None, "PR" if responded else "PD"]}


def write(tmp_path, text, name="cal.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_miss_counts_ci_widths_outside_the_range():
    assert miss(0.45, [0.3, 0.6], 0.4, 0.5) == 0                 # inside
    assert miss(0.2, [0.1, 0.3], 0.4, 0.5) == pytest.approx(2)   # 0.2 below, CI reaches 0.1 above the value
    assert miss(0.9, [0.8, 0.95], 0.4, 0.5) == pytest.approx(4)  # 0.4 above, CI reaches 0.1 below
    assert miss(None, [None, None], 0.4, 0.5) == 0               # not estimable (nobody enrolled)


def test_study_finds_the_known_value_of_a_cheap_model(tmp_path):
    cal = load_calibration(write(tmp_path, TINY.format(patients=40, days=28, low=0.45, high=0.55)))
    result = run_calibration(cal, tmp_path / "out", n_trials=30, workers=1, runner=cheap_patient)
    assert result["best_loss"] == 0
    assert abs(result["best_params"]["bystander_kill_per_day"] - KNOWN_RATE) < 0.8
    assert result["n_trials"] == 30
    out = tmp_path / "out"
    assert {"report.md", "history.png", "importance.png", "targets.png", "best-params.toml", "trials.csv",
            "validation.csv", "study.db"} <= {p.name for p in out.iterdir()}
    report = (out / "report.md").read_text()
    assert "validation seeds" in report and "| gastric-cldn18-iv | orr |" in report
    # the outputs are scenario files the other commands read: the overlay and each target's scenario
    overlay = load_scenario(out / "best-params.toml")
    assert overlay.bystander_kill_per_day == pytest.approx(result["best_params"]["bystander_kill_per_day"], rel=1e-5)
    target = load_scenario(out / "scenarios" / "gastric-cldn18-iv.toml")
    assert target.target == "CLDN18.2" and target.bystander_kill_per_day == overlay.bystander_kill_per_day


def test_the_defaults_are_the_first_candidate_and_a_rerun_needs_resume(tmp_path):
    cal = load_calibration(write(tmp_path, TINY.format(patients=20, days=28, low=0.2, high=0.3)))
    run_calibration(cal, tmp_path / "out", n_trials=3, workers=1, runner=cheap_patient)
    study = optuna.load_study(study_name="cal", storage=f"sqlite:///{tmp_path / 'out' / 'study.db'}")
    assert study.trials[0].params == {"bystander_kill_per_day": 3.0}
    with pytest.raises(Exception, match="--resume"):
        run_calibration(cal, tmp_path / "out", n_trials=5, workers=1, runner=cheap_patient)
    result = run_calibration(cal, tmp_path / "out", n_trials=5, workers=1, runner=cheap_patient, resume=True)
    assert result["n_trials"] == 5


def counted_patient(log: str, params: dict) -> dict:
    """cheap_patient that leaves one line in ``log`` per patient treated."""
    with open(log, "a") as f:
        f.write(f"{params['seed']}\n")
    return cheap_patient(params)


def test_validation_runs_a_best_that_is_the_defaults_once(tmp_path):
    cal = load_calibration(write(tmp_path, TINY.format(patients=20, days=28, low=0.2, high=0.3)))
    log = tmp_path / "patients.log"
    result = run_calibration(cal, tmp_path / "out", n_trials=1, workers=1, runner=partial(counted_patient, str(log)))
    assert result["best_params"] == {"bystander_kill_per_day": 3.0}, "one candidate: the defaults"
    treated = log.read_text().split()
    assert len(treated) == 2 * 20, "the fit's patients once, the validation seed's patients once"
    assert result["validation_loss"]["best"] == result["validation_loss"]["defaults"]


def test_dask_backend_evaluates_the_same_candidates(tmp_path):
    cal = load_calibration(write(tmp_path, TINY.format(patients=20, days=28, low=0.2, high=0.3)))
    local = run_calibration(cal, tmp_path / "local", n_trials=3, workers=1, runner=cheap_patient)
    dask = run_calibration(cal, tmp_path / "dask", n_trials=3, backend="dask", workers=1, runner=cheap_patient)
    assert (tmp_path / "dask" / "validation.csv").read_text() == (tmp_path / "local" / "validation.csv").read_text()
    assert dask["best_params"] == local["best_params"] and dask["best_loss"] == local["best_loss"]


def test_a_candidate_killed_before_it_claimed_its_trial_is_not_left_running(tmp_path):
    """The kill can land between Optuna creating a trial and the candidate recording its host and pid:
    in the folder's own study (locked) that trial is stale at once; in a shared database it is stale
    only once it is older than the heartbeat grace (another machine may have just created it)."""
    from sim.calibration import GRACE_S, requeue_stale

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(study_name="cal", storage=storage)
    ghost = study.ask()  # RUNNING, no owner attributes
    requeue_stale(study, storage, own_database=False)
    assert study.trials[ghost.number].state == optuna.trial.TrialState.RUNNING
    requeue_stale(study, storage, own_database=True)
    assert study.trials[ghost.number].state == optuna.trial.TrialState.FAIL
    half = study.ask()  # killed after recording its host, before its pid (seen once in a full test run)
    half.set_user_attr("host", socket.gethostname())
    requeue_stale(study, storage, own_database=True)
    assert study.trials[half.number].state == optuna.trial.TrialState.FAIL
    late = study.ask()
    old = study.trials[late.number].datetime_start.timestamp() - GRACE_S - 1
    with storage.engine.begin() as db:  # backdate its start past the grace period
        db.exec_driver_sql("UPDATE trials SET datetime_start = ? WHERE trial_id = ?",
                           (datetime.datetime.fromtimestamp(old).isoformat(sep=" "), late._trial_id))
    requeue_stale(study, storage, own_database=False)
    assert study.trials[late.number].state == optuna.trial.TrialState.FAIL


def test_resume_after_sigkill_keeps_finished_trials_and_reaches_n(tmp_path):
    path = write(tmp_path, TINY.format(patients=2, days=56, low=0.4, high=0.5))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "sim.cli", "calibrate", str(path), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen([*command, "--trials", "20"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    storage = f"sqlite:///{out / 'study.db'}"
    deadline = time.time() + 120

    def finished():
        try:
            return [t for t in optuna.load_study(study_name="cal", storage=storage).trials
                    if t.state == optuna.trial.TrialState.COMPLETE]
        except Exception:  # the study is not created yet
            return []

    while len(finished()) < 2 and time.time() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = {t.number: t.params for t in finished()}
    assert 2 <= len(kept) < 20, "the calibration should have been killed part-way"
    before = optuna.load_study(study_name="cal", storage=storage).trials
    stale = [t.params for t in before if t.state == optuna.trial.TrialState.RUNNING]
    assert len(stale) <= 1, "one candidate runs at a time (the kill may land between two)"
    n = len(kept) + 2
    done = subprocess.run([*command, "--trials", str(n), "--resume", "--json"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["n_trials"] == n
    trials = optuna.load_study(study_name="cal", storage=storage).trials
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == n
    assert all(trials[number].params == params and trials[number].state == optuna.trial.TrialState.COMPLETE
               for number, params in kept.items())                  # nothing finished was lost
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    for params in stale:  # the interrupted candidate ran again with the values it had drawn (the kill may land
        # before it drew them all: the rest are drawn anew, or, with none drawn, there is nothing to run again)
        assert any(all(t.params.get(name) == value for name, value in params.items()) for t in complete)
    assert (out / "report.md").exists()


BAD_FILES = {
    "unknown parameter": TINY.replace("bystander_kill_per_day]", "no_such_knob]"),
    "bounds reversed": TINY.replace("low = 0.5\nhigh = 10", "low = 10\nhigh = 0.5"),
    "bound outside the parameter's range": TINY.replace("low = 0.5\nhigh = 10", "low = 0.5\nhigh = 100"),
    "unknown preset": TINY.replace('"gastric-cldn18-iv"', '"no-such-preset"'),
    "malformed TOML": TINY.replace("[set]", "[set"),
    "unknown measure": TINY.replace("orr = ", "response_rate = "),
    "range outside 0..1": TINY.replace("orr = [{low}, {high}]", "orr = [0.4, 1.5]"),
    "free parameter also set": TINY.replace("days = {days}", "days = {days}\nbystander_kill_per_day = 2"),
    "validation seed equals the fit seed": TINY.replace("validation_seeds = [4]", "validation_seeds = [3]"),
    "unknown top-level key": "colour = 'red'\n" + TINY,
    "target name that is a path": TINY.replace('scenario = "gastric-cldn18-iv"',
                                               'scenario = "gastric-cldn18-iv"\nname = "../elsewhere"'),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_calibration_file_one_line_exit_2_nothing_written(tmp_path, capsys, name):
    path = write(tmp_path, BAD_FILES[name].format(patients=2, days=28, low=0.4, high=0.5))
    out = tmp_path / "out"
    assert main(["calibrate", str(path), "--out", str(out), "--trials", "2"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "calibration file" in err and "Traceback" not in err
    assert not out.exists()
