"""Virtual trials: sample patients, screen them with a simulated biopsy, treat the eligible.

Each patient is the scenario with traits drawn from the target's and site's
population distributions (``seeds/targets.toml``, trial columns):

* antigen status: positive with probability ``positive_patients``; the share of
  antigen-positive tumour cells ~ Beta(mean ``positive_fraction_mean``,
  concentration ``positive_fraction_kappa``) for positive patients (all cells
  when the mean is 1), Beta(mean 0.1) for the others; with probability
  ``negative_clone_patients`` the patient also carries a pre-existing
  antigen-negative clone of ``negative_clone_share`` of the tumour cells (CD19- or
  BCMA-negative relapse);
* antigen density scale ~ lognormal(0, ``density_patient_sigma``);
* suppression ~ Beta around the scenario's value (concentration 10); stroma scale ~
  lognormal(0, 0.3); CAR-T product fitness ~ Beta(mean 0.85, concentration 10);
* lesion diameter ~ lognormal around the scenario's (sd 0.3), burden ~ lognormal
  around the scenario's (sd 0.5);
* blood expansion rate ~ lognormal around the scenario's (sd ``EXPANSION_SIGMA``):
  patients' CAR-T expansion peaks differ by one to two orders of magnitude.

Screening: a biopsy of the seeded lesion (``BIOPSY_CORES`` disks of radius
``BIOPSY_RADIUS`` sites at random tumour sites) is called eligible when at least ``eligibility_share`` of its
tumour cells reach ``eligibility_ihc`` (the IHC call). Screen failures are counted, not
treated. The trial summary gives ORR and DCR with Wilson 95% CIs
(``statsmodels.stats.proportion.proportion_confint``). Per-patient seeds are spawned
from ``numpy.random.SeedSequence(seed)``, so results never depend on the worker count.
"""

from __future__ import annotations

import concurrent.futures as cf
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint
from tqdm import tqdm

from sim import guard, tables
from sim.scenario import CARTScenario, ScenarioError
from sim.sweep import process_pool, stop_pool

BIOPSY_RADIUS = 4
"""Radius of one simulated biopsy core, in sites (about 0.1 mm of tissue)."""
BIOPSY_CORES = 3
"""Cores taken per patient at random tumour sites (pathologists read several cores)."""
EXPANSION_SIGMA = 0.3
"""Lognormal spread of the blood expansion rate between patients. With the default
rate after lymphodepletion (0.4/day for 10 days) the middle 95% of patients' expansion
peaks span about 150-fold, the spread of CAR-T Cmax between patients in the
tisagenlecleucel kinetics (Mueller et al., Blood 2017; approx.)."""
SEVERE_NORMAL_KILL = 0.2
"""Share of target-bearing normal cells killed that counts as severe on-target, off-tumour
toxicity (unless the target's ``normal_loss_tolerable``, e.g. B-cell aplasia for CD19)."""


@dataclass
class TrialResult:
    """Per-patient table (traits, screening, outcome) and the trial summary."""

    patients: pd.DataFrame
    summary: dict
    courses: dict[int, pd.DataFrame]
    """Scan series per treated patient (day, % change of the apparent diameter, call)."""


def sample_patients(scenario: CARTScenario, n: int, seed: int) -> list[dict]:
    """Traits of ``n`` virtual patients, each with its own spawned seed."""
    target = tables.targets()[scenario.target]
    children = np.random.SeedSequence(seed).spawn(n)
    patients = []
    for i, child in enumerate(children):
        rng = np.random.default_rng(child)
        positive = bool(rng.random() < target["positive_patients"])
        mean, kappa = (target["positive_fraction_mean"], target["positive_fraction_kappa"]) if positive else (0.1, 10)
        positive_fraction = float(rng.beta(mean * kappa, (1 - mean) * kappa)) if mean < 1 else 1.0
        negative_clone = bool(rng.random() < target.get("negative_clone_patients", 0.0))
        if negative_clone:
            positive_fraction *= 1 - target["negative_clone_share"]
        s = scenario.suppression
        suppression = float(rng.beta(max(s, 0.01) * 10, max(1 - s, 0.01) * 10))
        patients.append({
            "patient": i,
            "seed": int(child.generate_state(1, dtype=np.uint64)[0] >> 1),
            "antigen_positive_patient": positive,
            "negative_clone": negative_clone,
            "antigen_negative_fraction": round(1 - positive_fraction, 4),
            "antigen_density_scale": round(float(np.exp(rng.normal(0, target["density_patient_sigma"]))), 4),
            "suppression": round(suppression, 4),
            "stroma_scale": round(float(np.exp(rng.normal(0, 0.3))), 4),
            "tcell_fitness": round(float(rng.beta(8.5, 1.5)), 4),
            "lesion_diameter_mm": round(float(scenario.lesion_diameter_mm * np.exp(rng.normal(0, 0.3))), 2),
            "tumor_burden_cm3": round(float(scenario.tumor_burden_cm3 * np.exp(rng.normal(0, 0.5))), 3),
            "expansion_rate_per_day": round(float(scenario.expansion_rate_per_day
                                                  * np.exp(rng.normal(0, EXPANSION_SIGMA))), 4),
        })
    return patients


TRAITS = ["antigen_negative_fraction", "antigen_density_scale", "suppression", "stroma_scale", "tcell_fitness",
          "lesion_diameter_mm", "tumor_burden_cm3", "expansion_rate_per_day", "seed"]
SAMPLED_ONLY = ["antigen_negative_fraction", "antigen_density_scale", "stroma_scale", "tcell_fitness", "seed"]
"""Traits drawn per patient without reference to the scenario's value: a scenario's (or
``--set``) value of these is not used by a trial (the others are the population's centre)."""
OUTCOMES = {"best_response": None, "best_pct_change": float("nan"), "pseudo_progression": False, "relapse": False,
            "normal_cells_killed_fraction": float("nan"), "crs_grade": 0}
"""Outcome columns of every patients table, with the values screen failures get."""


class TrialInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a trial; ``partial`` holds the patients that finished."""

    def __init__(self, partial: "TrialResult", cause: KeyboardInterrupt):
        super().__init__()
        self.partial, self.cause = partial, cause


def ignored_overrides(overrides) -> list[str]:
    """Names in ``overrides`` that a trial samples per patient and therefore does not use."""
    return [name for name in overrides if name in SAMPLED_ONLY]


def check_trial(scenario: CARTScenario, patients: int, seed: int, workers: int | None) -> int:
    """Refuse a trial that cannot run here (counts, seed, memory) before any work; the worker count."""
    if not isinstance(scenario, CARTScenario):
        raise ScenarioError(f"scenario {scenario!r}: allowed: a CARTScenario (e.g. load_scenario('gastric-cldn18-iv'))")
    guard.check_count("--patients", patients, guard.MAX_PATIENTS)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= 2**63 - 1:
        raise ScenarioError(f"--seed {seed!r}: allowed: a whole number from 0 to {2**63 - 1}")
    workers = guard.check_workers(workers)
    guard.check_memory(scenario.width, scenario.height, min(workers, patients))
    return workers


def biopsy(model, rng: np.random.Generator) -> float:
    """Share of tumour cells in ``BIOPSY_CORES`` core biopsies that reach the screening IHC level."""
    target = tables.targets()[model.scenario.target]
    tissue = model.tissue
    xs, ys = np.nonzero(tissue.tumor)
    x, y = np.indices(tissue.shape)
    cores = np.zeros(tissue.shape, bool)
    for i in rng.integers(len(xs), size=BIOPSY_CORES):
        cores |= np.hypot(x - xs[i], y - ys[i]) <= BIOPSY_RADIUS
    sampled = cores & tissue.tumor
    return float(np.mean(tissue.antigen[sampled] >= target["eligibility_ihc"]))


def treat_patient(params: dict) -> dict:
    """Screen one patient and, if eligible, treat; the row of the patients table."""
    from sim.model import CARTModel, complete

    scenario = CARTScenario(**params)
    model = CARTModel(scenario)
    share = biopsy(model, np.random.default_rng(scenario.seed))
    eligible = share >= tables.targets()[scenario.target]["eligibility_share"]
    row = {"biopsy_positive_share": round(share, 4), "eligible": bool(eligible)}
    if eligible:
        result = complete(model)
        row.update({k: v for k, v in result.summary.items() if not isinstance(v, list | dict)})
        base = result.scans.apparent_mm.iloc[0]
        row["course_days"] = result.scans.day.tolist()
        row["course_pct"] = [round(100 * (d - base) / base, 2) for d in result.scans.apparent_mm]
        row["course_calls"] = result.scans.call.tolist()
    return row


def run_trial(scenario: CARTScenario, patients: int, seed: int = 0, workers: int | None = None,
              progress: bool = True) -> TrialResult:
    """Sample, screen and treat ``patients`` virtual patients on ``workers`` processes.

    Ctrl-C (or SIGTERM through the command line) raises :class:`TrialInterrupted`
    carrying the patients that finished; the worker processes are ended.
    """
    workers = check_trial(scenario, patients, seed, workers)
    traits = sample_patients(scenario, patients, seed)
    jobs = [{**scenario.params(), **{k: p[k] for k in TRAITS}} for p in traits]
    for job in jobs:
        CARTScenario(**job)  # validate every patient before any runs
    rows: dict[int, dict] = {}
    pool = process_pool(workers)
    try:
        with tqdm(total=patients, unit="patient", desc=f"trial {scenario.target}", disable=not progress) as bar:
            futures = {pool.submit(treat_patient, job): i for i, job in enumerate(jobs)}
            for future in cf.as_completed(futures):
                rows[futures[future]] = future.result()
                bar.update()
    except KeyboardInterrupt as stop:
        stop_pool(pool)
        raise TrialInterrupted(_result([traits[i] for i in sorted(rows)], rows, scenario), stop) from None
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown()
    return _result(traits, rows, scenario)


def _result(traits: list[dict], rows: dict[int, dict], scenario: CARTScenario) -> TrialResult:
    """The TrialResult of the patients in ``traits`` (their rows by patient index)."""
    records = [{**t, **OUTCOMES, **rows[t["patient"]]} for t in traits]
    table = pd.DataFrame(records) if records else pd.DataFrame(columns=["patient", "eligible", *OUTCOMES])
    table["eligible"] = table["eligible"].astype(bool)
    courses = {int(r.patient): pd.DataFrame({"day": r.course_days, "pct": r.course_pct, "call": r.course_calls})
               for r in table.itertuples() if r.eligible}
    table = table.drop(columns=[c for c in ("course_days", "course_pct", "course_calls") if c in table])
    return TrialResult(table, summarize_trial(table, scenario), courses)


def wilson(successes: int, n: int) -> list[float]:
    """Wilson score 95% interval of a proportion (statsmodels)."""
    if n == 0:
        return [0.0, 0.0]
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return [round(float(low), 4), round(float(high), 4)]


def summarize_trial(table: pd.DataFrame, scenario: CARTScenario) -> dict:
    """The trial summary keys of DESIGN.md, plus rates of relapse and screen failure."""
    treated = table[table.eligible]
    n = len(treated)
    counts = {k: int((treated.best_response == k).sum()) for k in ("CR", "PR", "SD", "PD", "NE")}
    responders = counts["CR"] + counts["PR"]
    controlled = responders + counts["SD"]
    target = tables.targets()[scenario.target]
    tolerable = bool(target.get("normal_loss_tolerable", False))
    on_target_off_tumour = (treated.normal_cells_killed_fraction >= SEVERE_NORMAL_KILL) & (not tolerable)
    severe = int(((treated.crs_grade >= 3) | on_target_off_tumour).sum()) if n else 0
    return {
        "target": scenario.target, "site": scenario.site, "route": scenario.route, "dose": scenario.dose,
        "n_screened": int(len(table)),
        "n_enrolled": n,
        "screen_failure_rate": round(1 - n / len(table), 4) if len(table) else 0.0,
        "orr": round(responders / n, 4) if n else 0.0,
        "orr_ci95": wilson(responders, n),
        "dcr": round(controlled / n, 4) if n else 0.0,
        "dcr_ci95": wilson(controlled, n),
        "cr": counts["CR"], "pr": counts["PR"], "sd": counts["SD"], "pd": counts["PD"],
        "ne": counts["NE"],
        "pseudo_progression_rate": round(float(treated.pseudo_progression.mean()), 4) if n else 0.0,
        "severe_toxicity_rate": round(severe / n, 4) if n else 0.0,
        "relapse_rate": round(float(treated.relapse.mean()), 4) if n else 0.0,
        "reference_orr": [target["orr_low"], target["orr_high"]],
        "reference": target["clinical"],
    }
