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
* suppression ~ Beta around the scenario's value with a coefficient of variation of
  ``SUPPRESSION_CV`` (:func:`suppression_concentration`); stroma scale ~ lognormal(0, 0.3); CAR-T product
  fitness ~ Beta(mean 0.85, concentration 10);
* lesion diameter ~ lognormal around the scenario's (sd 0.3), burden ~ lognormal
  around the scenario's (sd 0.5);
* blood expansion rate ~ lognormal around the scenario's (sd ``EXPANSION_SIGMA``):
  patients' CAR-T expansion peaks differ by one to two orders of magnitude.

Screening: a biopsy of the seeded lesion (``BIOPSY_CORES`` disks of radius
``BIOPSY_RADIUS`` sites at random tumour sites) is called eligible when at least ``eligibility_share`` of its
tumour cells reach ``eligibility_ihc`` (the IHC call). Screen failures are counted, not
treated. The trial summary gives ORR and DCR with Wilson 95% CIs
(``statsmodels.stats.proportion.proportion_confint``) and the time-to-event
outcomes of :mod:`sim.survival` (Kaplan-Meier PFS and DoR). Per-patient seeds are
spawned from ``numpy.random.SeedSequence(seed)``, so results never depend on the
worker count.

Two-arm trials (``control``): the same screened population (the same patients
and seeds as the single-arm trial with that seed) is screened against the
scenario's target; the eligible are randomised ``ratio`` (experimental:control)
in permuted blocks and each is treated in its arm only. The summary holds the
screening keys, each arm's outcome keys under its name (``experimental``,
``control``), the ORR difference with its Newcombe 95% CI and the PFS hazard
ratio (Cox) with its 95% CI and log-rank p. A control arm changes treatment
parameters only (route, dose, product, schedule; ``dose=0`` is an untreated
arm), never the patients or the follow-up (``SAME_IN_BOTH_ARMS``).
"""

from __future__ import annotations

import concurrent.futures as cf
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint
from tqdm import tqdm

from sim import guard, survival, tables
from sim.imaging import OBJECTIVE_RESPONSE
from sim.scenario import CARTScenario, ScenarioError
from sim.sweep import process_pool, stop_pool
from sim.toxicity import severe_off_tumour

BIOPSY_RADIUS = 4
"""Radius of one simulated biopsy core, in sites (about 0.1 mm of tissue)."""
BIOPSY_CORES = 3
"""Cores taken per patient at random tumour sites (pathologists read several cores)."""
EXPANSION_SIGMA = 0.3
"""Lognormal spread of the blood expansion rate between patients. With the default
rate after lymphodepletion (0.4/day for 10 days) the middle 95% of patients' expansion
peaks span about 150-fold, the spread of CAR-T Cmax between patients in the
tisagenlecleucel kinetics (Mueller et al., Blood 2017; approx.)."""
SUPPRESSION_CV = 0.2 ** 0.5
"""Coefficient of variation (0.447) of a patient's suppression around the scenario's value
(a Beta distribution; see :func:`suppression_concentration`). Measured suppressive cells
vary between patients of one tumour type by 0.4-1.0 of their mean: circulating
CD33+HLA-DR- MDSC in colorectal cancer 1.89 +- 0.75% (0.40; Sun et al., World J
Gastroenterol 2012;18:3303), CD163+ tumour-associated macrophages 0.5-1.07 across solid
tumours (Jung et al., J Pathol Transl Med 2015;49:318); CD68+ macrophages in gastric cancer
nests span 0-621 per field around a mean of 187 (Ishigami et al., Anticancer Res 2003).
0.447 is the low end of that range: a Beta concentration of exactly 4 at the solid-tumour
presets' 0.5."""


def suppression_concentration(centre: float) -> float:
    """Concentration of the Beta distribution of patients' suppression around ``centre``
    (0-1): the one that gives a coefficient of variation of ``SUPPRESSION_CV``, so a
    marrow preset's 0.1 varies between patients as much, relative to its mean, as a solid
    tumour's 0.5 (concentration 44 at 0.1, 4 at 0.5). Above 0.5 a fixed coefficient of
    variation needs ever flatter, then J-shaped Betas (concentration 2.3 at 0.6, 0.25 at
    0.8) and none exists beyond 0.83, so there the concentration stays at its value at 0.5."""
    m = min(max(centre, 0.01), 0.5)
    return (1 - m) / (m * SUPPRESSION_CV ** 2) - 1


@dataclass
class TrialResult:
    """Per-patient table (traits, screening, outcome) and the trial summary."""

    patients: pd.DataFrame
    summary: dict
    courses: dict[int, pd.DataFrame]
    """Scan series per treated patient (day, % change of the apparent diameter, call)."""
    arms: dict[str, "TrialResult"] = field(default_factory=dict)
    """A two-arm trial's arms by name (``experimental``, ``control``), each with its own
    patients, summary and courses; empty for a single-arm trial."""


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
        k = suppression_concentration(s)
        suppression = float(rng.beta(max(s, 0.01) * k, max(1 - s, 0.01) * k))
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


class TrialInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a trial; ``partial`` holds the patients that finished (a
    single-arm trial) or is None (a two-arm trial, whose arms are only set once all are screened)."""

    def __init__(self, partial: "TrialResult | None", cause: KeyboardInterrupt):
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


def _screening(model) -> dict:
    """The screening columns of a patient's row: biopsy share and eligibility."""
    share = biopsy(model, np.random.default_rng(model.scenario.seed))
    eligible = share >= tables.targets()[model.scenario.target]["eligibility_share"]
    return {"biopsy_positive_share": round(share, 4), "eligible": bool(eligible)}


def screen_patient(params: dict) -> dict:
    """Screen one patient (no treatment); the screening columns of its row."""
    from sim.model import CARTModel

    return _screening(CARTModel(CARTScenario(**params)))


def treat_patient(params: dict, screen: bool = True) -> dict:
    """Screen one patient and, if eligible, treat (``screen=False``: treat a patient screened before)."""
    from sim.model import CARTModel, complete

    model = CARTModel(CARTScenario(**params))
    row = _screening(model) if screen else {}
    if not screen or row["eligible"]:
        result = complete(model)
        row.update({k: v for k, v in result.summary.items() if not isinstance(v, list | dict)})
        # the course a spider plot draws: the lesion diameter, or for marrow disease its cells (no diameter)
        measure = result.scans.apparent_mm if model.response_criteria == "recist" else result.scans.viable_cells
        base = max(float(measure.iloc[0]), 1e-9)
        row["course_days"] = result.scans.day.tolist()
        row["course_pct"] = [round(100 * (d - base) / base, 2) for d in measure]
        row["course_calls"] = result.scans.call.tolist()
    return row


ARMS = ("experimental", "control")
"""Arm names of a two-arm trial: the scenario under test and its ``--control`` variant."""
SAME_IN_BOTH_ARMS = ("site", "lesion_fraction", "days", "width", "height", *TRAITS)
"""Parameters a control arm may not change: the patients, the lattice and the follow-up are shared."""
MAX_RATIO = 10
"""Largest allocation number in ``--ratio A:B``."""


def parse_ratio(text: str) -> tuple[int, int]:
    """``"2:1"`` -> (2, 1): experimental to control allocation, whole numbers 1..``MAX_RATIO``."""
    a, sep, b = str(text).partition(":")
    if sep and a.strip().isdigit() and b.strip().isdigit() and 1 <= int(a) <= MAX_RATIO and 1 <= int(b) <= MAX_RATIO:
        return int(a), int(b)
    raise ScenarioError(f"--ratio {text}: allowed: A:B with whole numbers 1-{MAX_RATIO} "
                        "(experimental:control), e.g. 1:1 or 2:1")


def check_control(scenario: CARTScenario, control: dict) -> CARTScenario:
    """The control arm's scenario: ``scenario`` with ``control`` applied; ScenarioError if unusable."""
    if not control:
        raise ScenarioError("--control: give at least one NAME=VALUE, e.g. --control route=intravenous")
    shared = sorted(set(control) & set(SAME_IN_BOTH_ARMS))
    if shared:
        raise ScenarioError(f"--control {shared[0]}={control[shared[0]]}: {shared[0]} describes the patients or "
                            f"the follow-up and is the same in both arms; allowed: treatment parameters "
                            f"(route, dose, car_affinity, infusions, ...)")
    arm = scenario.replace(**control)
    if arm.params() == scenario.params():
        raise ScenarioError(f"--control {' '.join(f'{k}={v}' for k, v in control.items())}: the control arm equals "
                            "the experimental arm; allowed: a value that differs from the scenario's")
    return arm


def randomise(n: int, ratio: tuple[int, int], seed: int) -> list[str]:
    """Arms of ``n`` enrolled patients in order: permuted blocks of ``sum(ratio)`` (A experimental, B control).

    Drawn from a stream of its own (``SeedSequence((seed, 1))``), so the patients' traits and
    seeds (``SeedSequence(seed).spawn``) do not depend on the ratio.
    """
    rng = np.random.default_rng(np.random.SeedSequence((seed, 1)))
    block = [ARMS[0]] * ratio[0] + [ARMS[1]] * ratio[1]
    arms: list[str] = []
    while len(arms) < n:
        arms.extend(rng.permutation(block).tolist())
    return arms[:n]


def _map(pool, fn, jobs: list[dict], bar, done: dict[int, dict]) -> list[dict]:
    """``fn`` over ``jobs`` on ``pool``, results in job order, the bar advanced as each finishes;
    ``done`` holds the results by job index as they come (what is kept if the trial is stopped)."""
    futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
    for future in cf.as_completed(futures):
        done[futures[future]] = future.result()
        bar.update()
    return [done[i] for i in range(len(jobs))]


def patient_jobs(scenario: CARTScenario, patients: int, seed: int) -> tuple[list[dict], list[dict]]:
    """The sampled traits of ``patients`` virtual patients and each one's scenario parameters
    (the scenario with the patient's traits), every one validated before any run."""
    traits = sample_patients(scenario, patients, seed)
    jobs = [{**scenario.params(), **{k: p[k] for k in TRAITS}} for p in traits]
    for job in jobs:
        CARTScenario(**job)
    return traits, jobs


def run_trial(scenario: CARTScenario, patients: int, seed: int = 0, workers: int | None = None,
              progress: bool = True, control: dict | None = None, ratio: tuple[int, int] = (1, 1)) -> TrialResult:
    """Sample, screen and treat ``patients`` virtual patients on ``workers`` processes.

    With ``control`` (parameter overrides, e.g. ``{"route": "intravenous"}``) the trial has two
    arms: all patients are screened against the scenario's target, the eligible are randomised
    ``ratio`` (experimental:control) in permuted blocks, and each is treated in its arm only.
    Ctrl-C (or SIGTERM through the command line) raises :class:`TrialInterrupted` carrying
    the patients that finished (single-arm trials); the worker processes are ended.
    """
    workers = check_trial(scenario, patients, seed, workers)
    control_scenario = check_control(scenario, control) if control is not None else None
    traits, jobs = patient_jobs(scenario, patients, seed)
    control_jobs = [{**job, **control} for job in jobs] if control is not None else []
    for job in control_jobs:
        CARTScenario(**job)  # validate every patient before any runs
    done: dict[int, dict] = {}
    pool = process_pool(workers)
    try:
        with tqdm(total=patients, unit="patient", desc=f"trial {scenario.target}", disable=not progress) as bar:
            if control is None:
                rows = _map(pool, treat_patient, jobs, bar, done)
            else:
                rows = _map(pool, screen_patient, jobs, bar, done)
                enrolled = [i for i, row in enumerate(rows) if row["eligible"]]
                arms = dict(zip(enrolled, randomise(len(enrolled), ratio, seed)))
                bar.total += len(enrolled)
                bar.refresh()
                treated = _map(pool, partial(treat_patient, screen=False),
                               [control_jobs[i] if arms[i] == "control" else jobs[i] for i in enrolled], bar, {})
                rows = [{**row, "arm": arms.get(i)} for i, row in enumerate(rows)]
                for i, row in zip(enrolled, treated):
                    rows[i].update(row)
    except KeyboardInterrupt as stop:
        stop_pool(pool)
        kept = single_arm([traits[i] for i in sorted(done)], done, scenario) if control is None else None
        raise TrialInterrupted(kept, stop) from None
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown()
    if control is None:
        return single_arm(traits, dict(enumerate(rows)), scenario)
    table, courses = _table(traits, dict(enumerate(rows)))
    arms = {}
    for name, arm_scenario in zip(ARMS, (scenario, control_scenario)):
        arm_table = table[table.arm == name]
        arms[name] = TrialResult(arm_table, outcome_summary(arm_table, arm_scenario),
                                 {i: c for i, c in courses.items() if i in set(arm_table.patient)})
    summary = {**screening_summary(table), "ratio": f"{ratio[0]}:{ratio[1]}", "control_overrides": dict(control),
               **{name: arm.summary for name, arm in arms.items()},
               **compare(arms["experimental"].patients, arms["control"].patients)}
    return TrialResult(table, summary, courses, arms)


MEASURED_COLUMNS = {"best_pct_change", "response_day", "dor_days"}
"""Per-patient numbers that are missing (NaN) for some patients: no follow-up scan, no response."""


def _table(traits: list[dict], rows: dict[int, dict]) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
    """The patients table of ``traits`` (rows by patient index) and the scan courses of the treated."""
    records = [{**t, **rows[t["patient"]]} for t in traits]
    table = pd.DataFrame(records) if records else pd.DataFrame(columns=["patient", "eligible"])
    table["eligible"] = table["eligible"].astype(bool)
    for column in MEASURED_COLUMNS & set(table):  # NaN, not None, where a patient had no follow-up scan
        table[column] = pd.to_numeric(table[column])
    courses = {int(r.patient): pd.DataFrame({"day": r.course_days, "pct": r.course_pct, "call": r.course_calls})
               for r in table.itertuples() if r.eligible}
    return table.drop(columns=[c for c in ("course_days", "course_pct", "course_calls") if c in table]), courses


def single_arm(traits: list[dict], rows: dict[int, dict], scenario: CARTScenario) -> TrialResult:
    """The TrialResult of a single-arm trial of the patients in ``traits`` (``rows``: each
    patient's :func:`treat_patient` row by patient index)."""
    table, courses = _table(traits, rows)
    return TrialResult(table, summarize_trial(table, scenario), courses)


def wilson(successes: int, n: int) -> list[float]:
    """Wilson score 95% interval of a proportion (statsmodels)."""
    if n == 0:
        return [0.0, 0.0]
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return [round(float(low), 4), round(float(high), 4)]


def screening_summary(table: pd.DataFrame) -> dict:
    """Screened, enrolled and the screen-failure rate of the whole trial."""
    n = int(table.eligible.sum())
    return {"n_screened": int(len(table)), "n_enrolled": n,
            "screen_failure_rate": round(1 - n / len(table), 4) if len(table) else 0.0}


OUTCOME_COLUMNS = ["best_response", "normal_cells_killed_fraction", "crs_grade", "pseudo_progression", "relapse",
                   "pfs_days", "progressed", "response_day", "dor_days"]
"""Per-patient outcome columns the trial summary reads."""


def outcome_summary(treated: pd.DataFrame, scenario: CARTScenario) -> dict:
    """Outcome keys of DESIGN.md for the treated patients of one arm: response, toxicity, time to event."""
    n = len(treated)
    if n == 0:  # nobody treated: the outcome columns may be missing altogether
        treated = pd.DataFrame(columns=OUTCOME_COLUMNS)
    counts = {k: int((treated.best_response == k).sum()) if n else 0 for k in ("CR", "PR", "SD", "PD", "NE")}
    responders = counts["CR"] + counts["PR"]
    controlled = responders + counts["SD"]
    target = tables.targets()[scenario.target]
    on_target_off_tumour = severe_off_tumour(treated.normal_cells_killed_fraction, scenario.target)
    severe = int(((treated.crs_grade >= 3) | on_target_off_tumour).sum()) if n else 0
    return {
        "target": scenario.target, "site": scenario.site, "route": scenario.route, "dose": scenario.dose,
        "n_enrolled": n,
        "orr": round(responders / n, 4) if n else 0.0,
        "orr_ci95": wilson(responders, n),
        "dcr": round(controlled / n, 4) if n else 0.0,
        "dcr_ci95": wilson(controlled, n),
        "cr": counts["CR"], "pr": counts["PR"], "sd": counts["SD"], "pd": counts["PD"],
        "ne": counts["NE"],
        "pseudo_progression_rate": round(float(treated.pseudo_progression.mean()), 4) if n else 0.0,
        "severe_toxicity_rate": round(severe / n, 4) if n else 0.0,
        "relapse_rate": round(float(treated.relapse.mean()), 4) if n else 0.0,
        **survival.pfs_summary(treated, scenario.days),
        "reference_orr": [target["orr_low"], target["orr_high"]],
        "reference": target["clinical"],
    }


def summarize_trial(table: pd.DataFrame, scenario: CARTScenario) -> dict:
    """The single-arm trial summary: screening, then the outcomes of the treated."""
    return {**screening_summary(table), **outcome_summary(table[table.eligible], scenario)}


def compare(experimental: pd.DataFrame, control: pd.DataFrame) -> dict:
    """Experimental vs control: ORR difference with its Newcombe 95% CI (statsmodels), PFS hazard
    ratio with 95% CI and log-rank p (:func:`sim.survival.compare_arms`)."""
    n1, n2 = len(experimental), len(control)
    difference, ci = None, [None, None]
    if n1 and n2:
        r1, r2 = (int(t.best_response.isin(OBJECTIVE_RESPONSE).sum()) for t in (experimental, control))
        difference = round(r1 / n1 - r2 / n2, 4)
        low, high = confint_proportions_2indep(r1, n1, r2, n2, method="newcomb", compare="diff")
        ci = [round(float(low), 4), round(float(high), 4)]
    return {"orr_difference": difference, "orr_difference_ci95": ci, **survival.compare_arms(experimental, control)}
