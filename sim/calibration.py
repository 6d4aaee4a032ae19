"""Calibration: fit shared parameters to clinical targets with an Optuna study (``cartsim calibrate``).

A calibration file (TOML) names the free parameters, the targets and how to run
the virtual trials::

    description = "my trial's response rates"
    patients = 12                  # screened per virtual trial
    seed = 2026                    # trial seed of the fit: the same patients for every candidate
    validation_seeds = [7]         # trial seeds the fit never sees, for the validation step
    sampler = "tpe"                # tpe (default) or random

    [set]                          # fixed overrides of every target's scenario
    width = 100
    days = 56
    stop_at_progression = true

    [parameters.bystander_kill_per_day]   # a free parameter: bounds, optional log scale
    low = 0.5
    high = 10
    log = true

    [[targets]]                    # one virtual trial per target
    scenario = "gastric-cldn18-iv" # preset name, or a scenario .toml relative to this file
    weight = 1                     # optional, default 1
    orr = [0.40, 0.50]             # reference ranges of trial results
    median_cart_peak_day = [7, 14] # median over treated patients of a per-patient result
    [targets.set]                  # optional overrides of this target only
    days = 112

Measures a target may name (each a ``[low, high]`` range): the proportions
``PROPORTIONS`` (Wilson 95% CI over the enrolled), the Kaplan-Meier medians
``KM_MEDIANS`` (days; their lifelines 95% CI), and ``median_<column>`` for a
numeric per-patient column (``cart_peak_day``, ``cart_peak``, ``best_pct_change``,
...; its distribution-free 95% CI, ``scipy.stats.quantile_test``).

Loss of a candidate: ``sum(weight * z**2)`` over every target's measures, where
``z`` is how far the simulated value lies outside its range in units of its own
95% CI on the side facing the range (``z = 0`` inside the range, ``z < 1`` when
the CI reaches the range). Every candidate runs the same patients (common random
numbers: the trial seed ``seed`` for every target), so two candidates differ by
their parameters, not by their patients. The study (Optuna; TPE by default)
lives in ``study.db`` (SQLite) in the output folder, or at ``--storage URL``;
finished trials are kept the moment they finish, so a killed calibration resumes
with ``--resume``, and a trial that was running when its process died is marked
failed and queued again with the same parameters.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import guard, outdir
from sim.errors import ScenarioError
from sim.presets import read_toml
from sim.scenario import CARTScenario, coerce, load_scenario
from sim.trial import SAMPLED_ONLY, TrialResult, patient_jobs, single_arm, treat_patient, wilson

PROPORTIONS = ("orr", "dcr", "severe_toxicity_rate", "relapse_rate", "pseudo_progression_rate")
"""Trial results that are shares of the enrolled patients (Wilson 95% CI)."""
KM_MEDIANS = ("pfs_median_days", "dor_median_days")
"""Kaplan-Meier medians of the trial summary, in days (None: not reached)."""
PATIENT_MEDIAN = "median_"
"""Prefix of a measure that is the median of a per-patient column over the treated."""
SAMPLERS = ("tpe", "random")
STUDY_DB = "study.db"
MANIFEST = "_calibration.json"
HEARTBEAT_S = 60
"""Seconds between a running trial's heartbeats in the study database; a trial of a process
on another machine whose heartbeat stopped for ``GRACE_S`` is failed and queued again."""
GRACE_S = 300
TOP_KEYS = {"description", "patients", "seed", "validation_seeds", "sampler", "set", "parameters", "targets"}
TARGET_KEYS = {"scenario", "weight", "set", "name"}


class CalibrationError(ScenarioError):
    """A calibration file, study or output folder that cannot be used (one line, exit 2)."""


@dataclass(frozen=True)
class Free:
    """A free parameter: its bounds (in its unit) and whether it is searched on a log scale."""

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False


@dataclass(frozen=True)
class Target:
    """One virtual trial to run per candidate and the reference ranges its results should meet."""

    name: str
    scenario: CARTScenario
    """The target's scenario before the free parameters are applied."""
    measures: dict[str, tuple[float, float]]
    weight: float = 1.0


@dataclass
class Calibration:
    """A parsed, validated calibration file."""

    path: Path
    free: dict[str, Free]
    targets: list[Target]
    patients: int
    seed: int
    validation_seeds: list[int]
    sampler: str = "tpe"
    description: str = ""
    source: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The study name (the file's stem)."""
        return self.path.stem

    def fingerprint(self) -> str:
        """What must match for ``--resume``: the file's content and the model's code and data."""
        from sim.sweep import model_version

        return json.dumps({"calibration": self.source, "model": model_version()}, sort_keys=True, default=str)

    def defaults(self) -> dict[str, Any]:
        """The free parameters' shipped defaults."""
        specs = CARTScenario.specs()
        return {name: specs[name][2] for name in self.free}


def _fail(path: Path, what: str) -> CalibrationError:
    return CalibrationError(f"calibration file {path}: {what}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(path: Path, key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(path, f"{key} = {value!r}; allowed: a whole number from {low} to {high:,}")
    return value


def load_calibration(path: str | Path) -> Calibration:
    """Parse and validate a calibration file completely; raise CalibrationError (one line) if unusable."""
    path = Path(path)
    if path.suffix != ".toml" or not path.is_file():
        raise CalibrationError(f"calibration file {path}: no such .toml file")
    try:
        spec = read_toml(path, "calibration file")
    except CalibrationError:
        raise
    except ScenarioError as err:
        raise CalibrationError(str(err)) from None
    if unknown := sorted(set(spec) - TOP_KEYS):
        raise _fail(path, f"unknown key '{unknown[0]}'; allowed: {', '.join(sorted(TOP_KEYS))}")
    patients = _whole(path, "patients", spec.get("patients", 12), 1, guard.MAX_PATIENTS)
    seed = _whole(path, "seed", spec.get("seed", 0), 0, 2**63 - 1)
    seeds = spec.get("validation_seeds", [seed + 1])
    if not isinstance(seeds, list) or not seeds:
        raise _fail(path, f"validation_seeds = {seeds!r}; allowed: a non-empty list of whole numbers")
    seeds = [_whole(path, "validation_seeds", s, 0, 2**63 - 1) for s in seeds]
    if seed in seeds or len(set(seeds)) < len(seeds):
        raise _fail(path, f"validation_seeds = {seeds}; allowed: distinct seeds other than the fit's seed {seed}")
    sampler = spec.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        raise _fail(path, f"sampler = {sampler!r}; allowed: one of {', '.join(SAMPLERS)}")
    free = _free(path, spec.get("parameters"))
    common = _overrides(path, "[set]", spec.get("set", {}), free)
    raw_targets = spec.get("targets")
    if not isinstance(raw_targets, list) or not raw_targets or not all(isinstance(t, dict) for t in raw_targets):
        raise _fail(path, "no [[targets]]; allowed: one or more [[targets]] tables with a scenario and ranges")
    targets = [_target(path, i, t, common, free) for i, t in enumerate(raw_targets)]
    names = [t.name for t in targets]
    if len(set(names)) < len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise _fail(path, f"two targets are named '{dup}'; give one a distinct name = \"...\"")
    return Calibration(path, free, targets, patients, seed, seeds, sampler, str(spec.get("description", "")), spec)


def _free(path: Path, table: Any) -> dict[str, Free]:
    """The ``[parameters.NAME]`` tables: numeric scenario parameters with bounds inside their allowed range."""
    if not isinstance(table, dict) or not table:
        raise _fail(path, "no [parameters.NAME] tables; allowed: one or more free parameters with low and high")
    specs = CARTScenario.specs()
    free = {}
    for name, bounds in table.items():
        if name not in specs:
            raise _fail(path, f"[parameters.{name}]: unknown parameter '{name}'; `cartsim scenarios --parameters` "
                              "lists them")
        kind, spec, _ = specs[name]
        if kind not in (int, float) or name in ("seed", "width", "height", *SAMPLED_ONLY):
            raise _fail(path, f"[parameters.{name}]: {name} cannot be fitted; allowed: a numeric model parameter "
                              "(not the seed, the lattice or a trait drawn per patient)")
        if not isinstance(bounds, dict) or set(bounds) - {"low", "high", "log"} or not {"low", "high"} <= set(bounds):
            raise _fail(path, f"[parameters.{name}] = {bounds!r}; allowed: low = NUMBER, high = NUMBER, log = true|false")
        low, high, log = bounds["low"], bounds["high"], bounds.get("log", False)
        if not (_number(low) and _number(high)) or not low < high:
            raise _fail(path, f"[parameters.{name}]: low = {low!r}, high = {high!r}; allowed: numbers with low < high")
        if not isinstance(log, bool) or (log and low <= 0):
            raise _fail(path, f"[parameters.{name}]: log = {log!r} with low = {low!r}; allowed: log = true only "
                              "when low > 0")
        for value in (low, high):
            try:
                CARTScenario(**{name: value})
            except ScenarioError:
                raise _fail(path, f"[parameters.{name}]: bound {value!r} is not allowed; allowed: "
                                  f"{spec.allowed(kind)}") from None
        free[name] = Free(name, float(low), float(high), log, kind is int)
    return free


def _overrides(path: Path, where: str, table: Any, free: dict[str, Free]) -> dict[str, Any]:
    """Fixed overrides (``[set]`` or a target's ``set``): known parameters, not free ones, no patient traits."""
    if not isinstance(table, dict):
        raise _fail(path, f"{where} = {table!r}; allowed: a table of name = value")
    out = {}
    for name, value in table.items():
        if name not in CARTScenario.parameter_names():
            raise _fail(path, f"{where}: unknown parameter '{name}'; `cartsim scenarios --parameters` lists them")
        if name in free or name in SAMPLED_ONLY:
            why = "it is a free parameter" if name in free else "it is drawn per patient in a trial"
            raise _fail(path, f"{where}: {name} cannot be set ({why})")
        try:
            out[name] = coerce(name, value)
        except ScenarioError as err:
            raise _fail(path, f"{where}: {err}") from None
    return out


def _target(path: Path, i: int, t: dict, common: dict, free: dict[str, Free]) -> Target:
    where = f"targets[{i}]"
    source = t.get("scenario")
    if not isinstance(source, str):
        raise _fail(path, f"{where}: scenario = {source!r}; allowed: a preset name (`cartsim scenarios`) "
                          "or a scenario .toml file")
    if source.endswith(".toml"):
        source = str(path.parent / source)
    overrides = {**common, **_overrides(path, f"{where}.set", t.get("set", {}), free)}
    try:
        scenario = load_scenario(source, overrides)
        for end in ("low", "high"):  # the all-low and all-high corners must make valid scenarios
            scenario.replace(**{name: getattr(f, end) for name, f in free.items()})
    except ScenarioError as err:
        raise _fail(path, f"{where}: {err}") from None
    weight = t.get("weight", 1.0)
    if not _number(weight) or weight <= 0:
        raise _fail(path, f"{where}: weight = {weight!r}; allowed: a number > 0")
    name = t.get("name", Path(t["scenario"]).stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", name) or name.startswith("."):
        raise _fail(path, f"{where}: name = {name!r}; allowed: letters, digits, '.', '_' and '-' "
                          "(it names the target's scenario file)")
    measures = {}
    for key, value in t.items():
        if key in TARGET_KEYS:
            continue
        if not (key in PROPORTIONS or key in KM_MEDIANS or key.startswith(PATIENT_MEDIAN)):
            raise _fail(path, f"{where}: unknown measure '{key}'; allowed: {', '.join(PROPORTIONS + KM_MEDIANS)}, "
                              f"or {PATIENT_MEDIAN}COLUMN (e.g. median_cart_peak_day), or {', '.join(sorted(TARGET_KEYS))}")
        if key.startswith(PATIENT_MEDIAN) and key[len(PATIENT_MEDIAN):] not in patient_columns():
            raise _fail(path, f"{where}: {key}: no per-patient column '{key[len(PATIENT_MEDIAN):]}'; allowed: "
                              f"{', '.join(PATIENT_MEDIAN + c for c in patient_columns())}")
        top = 1 if key in PROPORTIONS else math.inf
        if (not isinstance(value, list) or len(value) != 2 or not all(_number(v) for v in value)
                or not 0 <= value[0] <= value[1] <= top):
            allowed = "0 <= low <= high <= 1" if key in PROPORTIONS else "0 <= low <= high"
            raise _fail(path, f"{where}: {key} = {value!r}; allowed: [low, high] with {allowed}")
        measures[key] = (float(value[0]), float(value[1]))
    if not measures:
        raise _fail(path, f"{where}: no measure; allowed: e.g. orr = [0.4, 0.5]")
    return Target(name, scenario, measures, float(weight))


def patient_columns() -> list[str]:
    """Numeric per-patient outcome columns (a run's summary keys), for ``median_COLUMN`` measures."""
    from sim.sweep import summary_outputs

    return [c for c in summary_outputs() if c not in ("responded", "model_version")]


# --- evaluating a candidate ----------------------------------------------------------


PatientRunner = Callable[[dict], dict]
"""Screens and treats one patient from its scenario parameters; returns its row
(:func:`sim.trial.treat_patient`, or a cheap stand-in with the same columns in tests)."""


def evaluate(cal: Calibration, params: dict[str, Any], seeds: list[int], pool, runner: PatientRunner = treat_patient
             ) -> dict[str, TrialResult]:
    """Each target's virtual trial with the free parameters ``params``, its patients pooled over ``seeds``.

    Every patient of every target is submitted to ``pool`` (a ``concurrent.futures`` executor:
    the sweep's local pool or a Dask client's) at once; patients of trial seed ``seeds[k]`` are
    numbered ``k * patients + i``.
    """
    plan = []
    futures = []
    for target in cal.targets:
        scenario = target.scenario.replace(**params)
        traits = []
        for k, seed in enumerate(seeds):
            sampled, jobs = patient_jobs(scenario, cal.patients, seed)
            traits += [{**t, "patient": k * cal.patients + t["patient"]} for t in sampled]
            futures += [pool.submit(runner, job) for job in jobs]
        plan.append((target, scenario, traits))
    rows = iter(f.result() for f in futures)
    return {target.name: single_arm(traits, {t["patient"]: next(rows) for t in traits}, scenario)
            for target, scenario, traits in plan}


def measure(result: TrialResult, key: str) -> dict[str, Any]:
    """A trial's value of ``key`` with its 95% CI and the patients it rests on (value None: not estimable)."""
    s = result.summary
    n = s["n_enrolled"]  # proportions and KM curves rest on the enrolled; a patient median on its non-missing values
    if key in PROPORTIONS:
        value = s[key] if n else None
        ci = wilson(round(s[key] * n), n) if n else [None, None]
    elif key in KM_MEDIANS:
        value, ci = s[key], list(s[key.replace("_days", "_ci95")])
        followed = result.patients.loc[result.patients.eligible, key.replace("_median", "")].dropna() \
            if key.replace("_median", "") in result.patients else []
        if value is None and len(followed):  # not reached: the median lies beyond the longest follow-up
            value, ci = float(max(followed)), [float(max(followed)), None]
    else:
        from scipy.stats import quantile_test

        column = key[len(PATIENT_MEDIAN):]
        values = result.patients.loc[result.patients.eligible, column].dropna().astype(float).to_numpy() \
            if column in result.patients else np.array([])
        n = len(values)
        value = float(np.median(values)) if n else None
        if len(values) > 1:
            interval = quantile_test(values, q=value).confidence_interval()
            ci = [float(interval.low), float(interval.high)]
        else:
            ci = [None, None]
    return {"value": value, "ci95": ci, "n": n}


def miss(value: float | None, ci: list, low: float, high: float) -> float:
    """How far ``value`` lies outside ``[low, high]`` in units of its CI on the side facing the range.

    0 inside the range (or when the value cannot be estimated); below 1 when the CI reaches the range.
    Where the CI gives no width on that side, the range's width (or 1) is the unit.
    """
    if value is None or low <= value <= high:
        return 0.0
    bound = ci[1] if value < low else ci[0]
    unit = abs(bound - value) if bound is not None else 0.0
    if unit <= 0:
        unit = high - low if high > low else 1.0
    return (low - value if value < low else value - high) / unit


def score(cal: Calibration, results: dict[str, TrialResult]) -> tuple[float, list[dict]]:
    """The loss ``sum(weight * z**2)`` of a candidate and one row per target measure."""
    rows = []
    for target in cal.targets:
        for key, (low, high) in target.measures.items():
            m = measure(results[target.name], key)
            z = miss(m["value"], m["ci95"], low, high)
            rows.append({"target": target.name, "measure": key, **m, "low": low, "high": high, "z": round(z, 4),
                         "weight": target.weight})
    return float(sum(r["weight"] * r["z"] ** 2 for r in rows)), rows


# --- the study ---------------------------------------------------------------------


def storage_url(out: Path, storage: str | None) -> str:
    """The study's database: ``storage``, or ``sqlite:///OUT/study.db``."""
    return storage or f"sqlite:///{(Path(out) / STUDY_DB).resolve()}"


def open_study(cal: Calibration, url: str, resume: bool, out: Path):
    """Create the study (refusing an existing one without ``resume``) or load it for ``resume``
    (refusing one of another calibration file or model version); returns the Optuna study."""
    import optuna
    from optuna.storages import RDBStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = study_storage(url)
    names = [s.study_name for s in storage.get_all_studies()]
    if cal.name in names:
        if not resume:
            raise CalibrationError(f"--out {out}: study '{cal.name}' exists in {_short(url)}; add --resume to "
                                   "continue it, or choose a new --out")
        study = optuna.load_study(study_name=cal.name, storage=storage)
        if study.user_attrs.get("fingerprint") != cal.fingerprint():
            raise CalibrationError(f"--resume: study '{cal.name}' in {_short(url)} was made from another calibration "
                                   "file or model version; --resume needs the same file and model")
        return study
    study = optuna.create_study(study_name=cal.name, storage=storage, direction="minimize")
    study.set_user_attr("fingerprint", cal.fingerprint())
    defaults = cal.defaults()
    if all(f.low <= defaults[n] <= f.high for n, f in cal.free.items()):
        study.enqueue_trial(defaults, user_attrs={"defaults": True})
    return study


@cache
def study_storage(url: str):
    """The Optuna storage at ``url`` with heartbeats (one per process and URL)."""
    import optuna
    from optuna.storages import RDBStorage

    try:
        with warnings.catch_warnings():  # heartbeats are marked experimental in Optuna 5
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
    except Exception as err:  # SQLAlchemy raises many types for a bad URL or an unreachable server
        raise CalibrationError(f"--storage {url}: cannot open the study database ({type(err).__name__}: "
                               f"{str(err).splitlines()[0][:120]})") from None


def _short(url: str) -> str:
    return url if len(url) <= 80 else f"{url[:30]}...{url[-45:]}"


def requeue_stale(study, storage, own_database: bool) -> int:
    """Mark failed the trials left RUNNING by a dead process, and queue again (same parameters)
    every failed trial whose parameters are not finished, queued or running; the count queued.

    A RUNNING trial is stale when its process (``host`` and ``pid`` attributes) on this machine is
    gone, or when it has no owner yet (a process killed between creating the trial and recording
    its pid, the second of the two attributes it writes) and either the study lives in the output folder (``own_database``: the folder's lock keeps
    every other process out) or it started more than ``GRACE_S`` ago. ``storage`` is the study's
    Optuna storage (its public trial-state API). A trial running on another machine is failed by
    Optuna's heartbeat check after ``GRACE_S``.
    """
    from datetime import datetime

    from optuna.trial import TrialState

    host = socket.gethostname()
    study_id = storage.get_study_id_from_name(study.study_name)

    def stale(t) -> bool:
        if "pid" not in t.user_attrs:   # (pid 0 would read as alive: os.kill(0, 0) signals our own group)
            return own_database or (datetime.now() - t.datetime_start).total_seconds() > GRACE_S
        return t.user_attrs.get("host") == host and not outdir.alive(int(t.user_attrs["pid"]))

    trials = study.get_trials(deepcopy=False)
    for t in trials:
        if t.state == TrialState.RUNNING and stale(t):
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
    trials = study.get_trials(deepcopy=False)
    live = {_key(t.params) for t in trials if t.state in (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)}
    live |= {_key(t.system_attrs.get("fixed_params", {})) for t in trials if t.state == TrialState.WAITING}
    queued = 0
    for t in trials:
        if t.state == TrialState.FAIL and t.params and _key(t.params) not in live:
            study.enqueue_trial(t.params, user_attrs={k: v for k, v in t.user_attrs.items() if k == "defaults"})
            live.add(_key(t.params))
            queued += 1
    return queued


def _key(params: dict) -> tuple:
    return tuple(sorted((k, round(float(v), 12)) for k, v in params.items()))


def complete_trials(study) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def sampler(cal: Calibration, study):
    """TPE (multivariate, constant liar for parallel workers) or random search, seeded by the
    calibration's seed and the trials so far (a resumed study does not replay its random start)."""
    import optuna

    seed = (cal.seed + len(study.trials)) % 2**32
    if cal.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                      n_startup_trials=STARTUP_TRIALS)


STARTUP_TRIALS = 8
"""Random candidates (the defaults first) before TPE models the loss."""


def suggest(trial, free: Free) -> float | int:
    if free.integer:
        return trial.suggest_int(free.name, int(free.low), int(free.high), log=free.log)
    return trial.suggest_float(free.name, free.low, free.high, log=free.log)


def optimise(cal: Calibration, study, n_trials: int, pool, runner: PatientRunner = treat_patient,
             report: Callable[[str], None] | None = None) -> None:
    """Run candidates until the study holds ``n_trials`` finished trials."""
    import time

    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    def objective(trial) -> float:
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        params = {name: suggest(trial, f) for name, f in cal.free.items()}
        start = time.perf_counter()
        loss, rows = score(cal, evaluate(cal, params, [cal.seed], pool, runner))
        trial.set_user_attr("measures", rows)
        trial.set_user_attr("seconds", round(time.perf_counter() - start, 1))
        return loss

    def progress(study, trial) -> None:
        if report is not None and trial.state == TrialState.COMPLETE:
            done = len(complete_trials(study))
            report(f"trial {done}/{n_trials}: loss {trial.value:.3g} (best {study.best_value:.3g}) "
                   f"in {trial.user_attrs['seconds']:.1f} s")

    remaining = n_trials - len(complete_trials(study))
    if remaining > 0:
        study.sampler = sampler(cal, study)
        study.optimize(objective, n_trials=remaining,
                       callbacks=[MaxTrialsCallback(n_trials, states=(TrialState.COMPLETE,)), progress])


# --- outputs -------------------------------------------------------------------------


def best_overlay(cal: Calibration, params: dict[str, Any], loss: float) -> str:
    """The fitted parameters as flat TOML: a scenario file (the defaults with the fit) and ``--set`` lines."""
    lines = [f'description = "calibrated by cartsim calibrate {cal.path.name} (loss {loss:.3g}); the defaults '
             'with these parameters"']
    lines += [f"{name} = {_toml(value)}" for name, value in params.items()]
    return "\n".join(lines) + "\n"


def target_scenario(cal: Calibration, target: Target, params: dict[str, Any]) -> str:
    """A target's whole scenario with the fitted parameters, as a scenario file ``cartsim run``/``trial`` accept."""
    scenario = target.scenario.replace(**params)
    return (f'description = "{target.name} with the parameters fitted by cartsim calibrate {cal.path.name}"\n'
            + scenario.to_toml())


def _toml(value: Any) -> str:
    return repr(value)


def validation(cal: Calibration, study, pool, runner: PatientRunner = treat_patient) -> pd.DataFrame:
    """The best candidate and the shipped defaults on the fit's seed and on the validation seeds
    (pooled): one row per candidate x seed set x target measure. A candidate's fit-seed rows are
    read from its finished trial in the study when there is one (the defaults are trial 0 when
    they lie within the bounds), so only the validation seeds are run for it."""
    done = {_key(t.params): t for t in complete_trials(study)}
    scored: dict[tuple, tuple[float, list[dict]]] = {}  # the best may be the defaults: run them once
    frames = []
    for candidate, params in (("best", dict(study.best_trial.params)), ("defaults", cal.defaults())):
        for seeds_name, seeds in (("fit", [cal.seed]), ("validation", cal.validation_seeds)):
            trial = done.get(_key(params)) if seeds_name == "fit" else None
            if trial is not None and "measures" in trial.user_attrs:
                loss, rows = trial.value, trial.user_attrs["measures"]
            else:
                key = (seeds_name, _key(params))
                if key not in scored:
                    scored[key] = score(cal, evaluate(cal, params, seeds, pool, runner))
                loss, rows = scored[key]
            frame = pd.DataFrame(rows).astype({"value": float})
            frame.insert(0, "seeds", seeds_name)
            frame.insert(0, "candidate", candidate)
            frame["loss"] = round(loss, 4)
            frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table["ci_low"] = [c[0] for c in table.ci95]
    table["ci_high"] = [c[1] for c in table.ci95]
    return table.drop(columns="ci95")


def importances(study) -> dict[str, float]:
    """Optuna's parameter importances (PED-ANOVA by default; empty when too few trials vary)."""
    import optuna

    try:
        with warnings.catch_warnings():  # "importances will be equal" when few trials differ: the figure shows it
            warnings.simplefilter("ignore", UserWarning)
            return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


def write_report(cal: Calibration, study, table: pd.DataFrame, out: Path, url: str) -> list[str]:
    """Write the outputs into ``out`` (each file atomically); return their names."""
    from sim import plots

    best = study.best_trial
    params = dict(best.params)
    files: dict[str, str] = {"best-params.toml": best_overlay(cal, params, best.value)}
    for target in cal.targets:
        files[f"scenarios/{target.name}.toml"] = target_scenario(cal, target, params)
    trials = study.trials_dataframe(attrs=("number", "value", "params", "state", "user_attrs"))
    trials = trials.drop(columns=[c for c in trials if c in ("user_attrs_measures", "user_attrs_host", "user_attrs_pid")])
    files["trials.csv"] = trials.to_csv(index=False)
    files["validation.csv"] = table.to_csv(index=False)
    weights = importances(study)
    figures = {"history.png": lambda p: plots.calibration_history(study, p),
               "importance.png": lambda p: plots.calibration_importance(weights, p),
               "targets.png": lambda p: plots.calibration_targets(table, p)}
    files["report.md"] = _report(cal, study, table, weights, url, list(figures))
    (out / "scenarios").mkdir(exist_ok=True)
    for name, text in files.items():
        _atomic(out / name, lambda tmp, text=text: tmp.write_text(text))
    for name, draw in figures.items():
        _atomic(out / name, draw)
    return [*files, *figures]


def _atomic(path: Path, write: Callable[[Path], Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


def _fmt(value, key: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:.0f}%" if key in PROPORTIONS else f"{value:.3g}"


def _cell(row, key: str) -> str:
    ci = "" if row.ci_low is None or pd.isna(row.ci_low) else f" ({_fmt(row.ci_low, key)}-{_fmt(row.ci_high, key)})"
    return f"{_fmt(row.value, key)}{ci}, z {row.z:.2f}, n {int(row.n)}"


def fit_vs_validation(table: pd.DataFrame) -> str:
    """Markdown table: per target measure, the best candidate and the defaults on the fit and validation seeds."""
    wide = table.set_index(["target", "measure", "candidate", "seeds"])
    head = ("| target | measure | range | best, fit seeds | best, validation seeds | defaults, fit seeds | "
            "defaults, validation seeds |\n|---|---|---|---|---|---|---|")
    lines = [head]
    for (target, key), group in table.groupby(["target", "measure"], sort=False):
        first = group.iloc[0]
        cells = [_cell(wide.loc[(target, key, c, s)], key) for c in ("best", "defaults") for s in ("fit", "validation")]
        lines.append(f"| {target} | {key} | {_fmt(first.low, key)}-{_fmt(first.high, key)} | " + " | ".join(cells) + " |")
    losses = table.groupby(["candidate", "seeds"]).loss.first()
    lines.append(f"| **loss** | | | **{losses['best', 'fit']:.3g}** | **{losses['best', 'validation']:.3g}** | "
                 f"**{losses['defaults', 'fit']:.3g}** | **{losses['defaults', 'validation']:.3g}** |")
    return "\n".join(lines) + "\n"


def _report(cal: Calibration, study, table: pd.DataFrame, weights: dict[str, float], url: str,
            figures: list[str]) -> str:
    from optuna.trial import TrialState

    best = study.best_trial
    done = complete_trials(study)
    seconds = [t.user_attrs.get("seconds") for t in done if t.user_attrs.get("seconds")]
    failed = len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
    defaults = cal.defaults()
    sets = " ".join(f"--set {k}={_toml(v).strip(chr(39))}" for k, v in best.params.items())
    losses = table.groupby(["candidate", "seeds"]).loss.first()
    verdict = ("beats" if losses["best", "validation"] < losses["defaults", "validation"] else
               "ties with" if losses["best", "validation"] == losses["defaults", "validation"] else "does not beat")
    lines = [
        f"# Calibration report: {cal.path.name}",
        "",
        cal.description,
        "",
        f"Study `{cal.name}` in `{_short(url)}`: {len(done)} finished candidates ({failed} failed and queued again), "
        f"sampler {cal.sampler.upper()}, {cal.patients} patients screened per trial, {len(cal.targets)} targets, "
        f"fit seed {cal.seed}, validation seeds {', '.join(map(str, cal.validation_seeds))}. "
        + (f"Median time per candidate {np.median(seconds):.1f} s (wall clock)." if seconds else ""),
        "",
        "Loss = sum over targets and measures of weight x z^2, where z is the distance of the simulated value "
        "outside its range in units of its 95% CI on the side facing the range (z < 1: the CI reaches the range).",
        "",
        f"## Best candidate (trial {best.number}, loss {best.value:.3g})",
        "",
        "| parameter | best | shipped default | bounds | importance |",
        "|---|---|---|---|---|",
        *[f"| `{n}` | {best.params[n]:.4g} | {defaults[n]} | {f.low:g}-{f.high:g}{' (log)' if f.log else ''} | "
          f"{weights.get(n, float('nan')):.2f} |" for n, f in cal.free.items()],
        "",
        f"Use it: `best-params.toml` (the fitted parameters; as a scenario file it is the defaults with the fit), "
        f"`scenarios/TARGET.toml` (each target's scenario with the fit): "
        f"`cartsim trial scenarios/{cal.targets[0].name}.toml --patients 100`, or `cartsim run PRESET {sets}`.",
        "",
        "## Fit and validation",
        "",
        f"On the validation seeds (never seen by the fit) the best candidate {verdict} the shipped defaults "
        f"(loss {losses['best', 'validation']:.3g} vs {losses['defaults', 'validation']:.3g}).",
        "",
        fit_vs_validation(table),
        "![targets](targets.png)",
        "",
        "## Optimisation",
        "",
        "![history](history.png)",
        "",
        "![importance](importance.png)" if weights else "Too few finished candidates for parameter importances.",
        "",
    ]
    return "\n".join(lines)


def check_out(out: Path, storage: str | None, resume: bool) -> None:
    """Refuse an ``--out`` that cannot be written, or that holds other files without ``--resume``."""
    outdir.check_usable(out)
    if out.exists() and any(p.name != outdir.LOCK_NAME for p in out.iterdir()) and not resume:
        raise CalibrationError(f"--out {out}: holds results already; add --resume to continue that calibration, "
                               "or choose a new folder")


def run_calibration(cal: Calibration, out: str | Path, *, n_trials: int, storage: str | None = None,
                    backend: str = "local", workers: int | None = None, scheduler: str | None = None,
                    resume: bool = False, runner: PatientRunner = treat_patient,
                    report: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or continue) the study to ``n_trials`` finished candidates, validate the best, write the outputs.

    Returns the summary: best parameters and loss, candidates, the validation losses and the files.
    """
    from sim.sweep import SweepError, check_scheduler, executor

    out = Path(out)
    guard.check_count("--trials", n_trials, 10_000)
    if backend not in ("local", "dask"):
        raise CalibrationError(f"--backend {backend}: allowed: local, dask")
    if backend == "local" or not scheduler:
        workers = guard.check_workers(workers)
    for target in cal.targets:  # memory of each lattice, one patient per local worker at once
        guard.check_memory(target.scenario.width, target.scenario.height, min(workers or 1, cal.patients))
    check_out(out, storage, resume)
    if scheduler:
        try:
            check_scheduler(scheduler)
        except SweepError as err:
            raise CalibrationError(str(err)) from None
    url = storage_url(out, storage)
    with outdir.lock(out):
        study = open_study(cal, url, resume, out)
        _atomic(out / MANIFEST, lambda tmp: tmp.write_text(json.dumps({"calibration": str(cal.path), "study": cal.name,
                                                                        "storage": url}, indent=1) + "\n"))
        _atomic(out / "calibration.toml", lambda tmp: tmp.write_bytes(cal.path.read_bytes()))
        queued = requeue_stale(study, study_storage(url), own_database=storage is None)
        if queued and report is not None:
            report(f"queued again {queued} candidate(s) whose process stopped before finishing")
        with executor(backend, workers, scheduler) as pool:
            optimise(cal, study, n_trials, pool, runner, report)
            if report is not None:
                report("validating the best candidate and the defaults on the validation seeds")
            table = validation(cal, study, pool, runner)
        files = write_report(cal, study, table, out, url)
    losses = table.groupby(["candidate", "seeds"]).loss.first()
    return {"study": cal.name, "storage": url, "out": str(out), "n_trials": len(complete_trials(study)),
            "best_trial": study.best_trial.number, "best_loss": round(study.best_value, 4),
            "best_params": dict(study.best_trial.params),
            "validation_loss": {"best": float(losses["best", "validation"]),
                                "defaults": float(losses["defaults", "validation"])},
            "fit_loss": {"best": float(losses["best", "fit"]), "defaults": float(losses["defaults", "fit"])},
            "files": files}
