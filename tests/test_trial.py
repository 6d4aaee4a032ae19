"""Virtual trials: screening, reproducibility across worker counts, Wilson CIs, bad input, presets."""

import json
import subprocess
import sys

import pytest
from scipy.stats import wilcoxon
from statsmodels.stats.proportion import proportion_confint

from conftest import experiment_module
from sim import load_scenario, run
from sim.model import CARTModel
from sim.scenario import preset_files
from sim.trial import biopsy, outcome_summary, parse_ratio, randomise, run_trial, summarize_trial, wilson

import numpy as np
import pandas as pd

SMALL = {"width": 50, "height": 50, "days": 28}


@pytest.mark.parametrize("name", sorted(preset_files()))
def test_every_preset_runs_a_short_horizon(name):
    summary = run(load_scenario(name, {**SMALL, "days": 3})).summary
    assert summary["final_tumor_cells"] > 0 and summary["seed"] == load_scenario(name).seed


def test_biopsy_separates_antigen_high_from_antigen_low_lesions():
    rng = np.random.default_rng(0)
    high = CARTModel(**SMALL, antigen_negative_fraction=0.0, seed=1)
    low = CARTModel(**SMALL, antigen_negative_fraction=0.0, antigen_density_scale=0.2, seed=1)
    negative = CARTModel(**SMALL, antigen_negative_fraction=1.0, seed=1)
    assert biopsy(high, rng) > 0.4
    assert biopsy(low, rng) < 0.1 and biopsy(negative, rng) == 0.0


def test_screening_rejects_antigen_low_patients():
    trial = run_trial(load_scenario("gastric-cldn18-iv", SMALL), 24, seed=3, workers=2, progress=False)
    p = trial.patients
    assert 0 < trial.summary["n_enrolled"] < 24
    assert p[~p.eligible].antigen_negative_fraction.mean() > p[p.eligible].antigen_negative_fraction.mean() + 0.2
    assert p[~p.eligible].best_response.isna().all()          # screen failures are not treated


def test_patients_differ_in_expansion_and_it_shows_in_their_blood_peak():
    trial = run_trial(load_scenario("ball-cd19-iv", SMALL), 16, seed=4, workers=2, progress=False)
    p = trial.patients[trial.patients.eligible]
    rates = p.expansion_rate_per_day
    assert rates.std() / rates.mean() > 0.15
    assert p.expansion_rate_per_day.corr(np.log(p.cart_peak), method="spearman") > 0.8


@pytest.mark.parametrize("centre", [0.1, 0.3, 0.5, 0.8])
def test_patients_suppression_varies_as_measured_between_patients(centre):
    """Patients' suppression centres on the scenario's value and, up to 0.5 (the marrow
    presets' 0.1 as the solid tumours' 0.5), varies by 0.4-1.0 of its mean between patients
    (measured MDSC and macrophage levels); a fixed concentration gives 0.1 a CV of 1.3."""
    from sim.scenario import CARTScenario
    from sim.trial import sample_patients

    s = np.array([p["suppression"] for p in sample_patients(CARTScenario(suppression=centre), 600, seed=3)])
    assert s.mean() == pytest.approx(centre, rel=0.1)
    assert ((s >= 0) & (s <= 1)).all()
    if centre <= 0.5:
        assert 0.4 <= s.std() / s.mean() <= 0.55, s.std() / s.mean()


def test_dose_cohorts_of_the_same_patients_shrink_more_at_a_higher_clinical_dose():
    """Dose as a dose-escalation trial reads it (issue 15, Biology v2): the same screened patients
    treated at 1e8 and at 1e9 cells; their lesions shrink more at 1e9 (paired, one-sided Wilcoxon)
    and more of them respond. Killing that saturates after a few arrivals makes every dose alike.
    80 screened: with 40, p ranged 0.001-0.19 over trial seeds 1-4."""
    cohorts = {}
    for dose in (1e8, 1e9):
        trial = run_trial(load_scenario("gastric-cldn18-iv", {"width": 60, "height": 60, "days": 56, "dose": dose}),
                          80, seed=1, workers=2, progress=False)
        cohorts[dose] = trial
    low, high = (cohorts[d].patients.set_index("patient") for d in (1e8, 1e9))
    treated = low.index[low.eligible]
    assert len(treated) >= 30 and high.eligible.equals(low.eligible)
    assert wilcoxon(high.best_pct_change[treated], low.best_pct_change[treated], alternative="less").pvalue < 0.01
    assert cohorts[1e9].summary["orr"] > cohorts[1e8].summary["orr"]


def test_the_same_patients_respond_more_to_an_armoured_suppression_resistant_product():
    """Products differ only by data (seeds/products.toml; issue 15, item 7): the same screened GPC3
    patients treated intravenously with the plain product and with the optimised one (IL-15-armoured
    expansion and persistence, TGF-beta resistance) shrink more with the optimised product (paired,
    one-sided Wilcoxon) and more of them respond, as armouring lifted GPC3 CAR-T from 0% to 33%
    (Steffin et al., Nature 2025; experiments/products.py holds the full comparison). p 4e-5 to 0.004
    over trial seeds 3-5 (60 screened); with 40, up to 0.01."""
    trials = {product: run_trial(load_scenario("hcc-gpc3-iv", {"width": 60, "height": 60, "days": 56,
                                                               "product": product}),
                                 60, seed=3, workers=2, progress=False)
              for product in ("second_generation", "optimised")}
    plain, optimised = (trials[p].patients.set_index("patient") for p in ("second_generation", "optimised"))
    treated = plain.index[plain.eligible]
    assert len(treated) >= 25 and optimised.eligible.equals(plain.eligible)
    assert wilcoxon(optimised.best_pct_change[treated], plain.best_pct_change[treated],
                    alternative="less").pvalue < 0.01
    assert trials["optimised"].summary["orr"] > trials["second_generation"].summary["orr"]


def test_trial_identical_for_one_and_two_workers():
    scenario = load_scenario("hcc-gpc3-hai", SMALL)
    one = run_trial(scenario, 8, seed=5, workers=1, progress=False)
    two = run_trial(scenario, 8, seed=5, workers=2, progress=False)
    assert one.patients.equals(two.patients) and one.summary == two.summary


@pytest.mark.parametrize("k, n", [(0, 10), (5, 10), (12, 37), (37, 37)])
def test_wilson_interval_matches_statsmodels(k, n):
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert wilson(k, n) == pytest.approx([low, high], abs=1e-4)
    assert wilson(5, 10) == pytest.approx([0.2366, 0.7634], abs=1e-4)   # textbook value


def test_cli_trial_writes_outputs(tmp_path):
    out = tmp_path / "t"
    p = subprocess.run([sys.executable, "-m", "sim.cli", "trial", "gastric-cldn18-iv", "--patients", "6",
                        "--set", "width=50", "--set", "height=50", "--set", "days=28", "--workers", "2",
                        "--out", str(out), "--json"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    keys = ["n_screened", "n_enrolled", "orr", "orr_ci95", "dcr", "cr", "pr", "sd", "pd",
            "pseudo_progression_rate", "severe_toxicity_rate"]
    assert set(keys) <= set(summary) and summary["n_screened"] == 6
    assert {f.name for f in out.iterdir()} == {"patients.parquet", "summary.json", "waterfall.png", "spider.png",
                                               "swimmer.png", "km.png"}
    time_to_event = ["pfs_median_days", "pfs_median_ci95", "dor_median_days", "pfs_rate_6m", "pfs_rate_12m"]
    assert set(time_to_event) <= set(summary) and summary["pfs_rate_6m"] is None      # 28-day horizon
    patients = pd.read_parquet(out / "patients.parquet")
    assert {"pfs_days", "progressed", "dor_days", "response_day"} <= set(patients)


@pytest.mark.parametrize("args", [["gastric-cldn18-iv", "--patients", "0"], ["no-such-scenario", "--patients", "5"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--workers", "0"],
                                  ["gastric-cldn18-iv"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--control", "route"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--control", "roote=intravenous"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--control", "route=nowhere"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--control", "dose=-1"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--control", "route=intravenous"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--control", "suppression=0.9"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--control", "days=30"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--control", "no-such-preset"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--control", "gastric-cldn18-iv"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--control", "gastric-peritoneal-ip"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--control", "dose=0", "--ratio", "0:1"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--control", "dose=0", "--ratio", "2"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--control", "dose=0", "--ratio", "a:b"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--ratio", "2:1"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--set", "infusions=4"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--set", "infusions=0"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--set", "reinfusion_interval_days=2"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--set", "infusions=3", "--set", "days=56"],
                                  ["gastric-cldn18-iv", "--patients", "5", "--set", "first_scan_day=0"]],
                         ids=lambda a: " ".join(a))
def test_bad_trial_input_exit_2_nothing_written(tmp_path, args):
    out = tmp_path / "t"
    p = subprocess.run([sys.executable, "-m", "sim.cli", "trial", *args, "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert not out.exists()


def test_trial_with_nobody_enrolled_gives_a_valid_summary(tmp_path, capsys):
    from sim.cli import main

    scenario = load_scenario("gastric-cldn18-iv", {**SMALL, "days": 7, "antigen_density_scale": 0.0})
    trial = run_trial(scenario, 2, seed=0, workers=1, progress=False)
    s = trial.summary
    assert (s["n_screened"], s["n_enrolled"], s["orr"], s["orr_ci95"]) == (2, 0, 0.0, [0.0, 0.0])
    out = tmp_path / "t"
    assert main(["trial", "gastric-cldn18-iv", "--patients", "1", "--seed", "0", "--set", "days=7",
                 "--set", "width=50", "--set", "height=50", "--set", "antigen_negative_fraction=1",
                 "--out", str(out), "--json"]) == 0
    assert json.loads((out / "summary.json").read_text())["n_enrolled"] == 0
    capsys.readouterr()
    assert main(["trial", "gastric-cldn18-iv", "--patients", "1", "--seed", "0", "--set", "days=7",
                 "--set", "width=50", "--set", "height=50", "--set", "antigen_negative_fraction=1",
                 "--out", str(tmp_path / "readable")]) == 0
    said = capsys.readouterr().out
    assert "0 enrolled" in said and "not evaluable" in said and "ORR 0.0%" not in said  # no rate of nobody


def test_trial_ending_before_the_first_scan_counts_not_evaluable(tmp_path):
    """Every patient enrolled and none scanned again: NE for all, and the figures and table are written
    (the waterfall once failed on a best-change column of None only)."""
    from sim.cli import main

    trial = run_trial(load_scenario("ball-cd19-iv", {**SMALL, "days": 7}), 3, seed=1, workers=1, progress=False)
    s = trial.summary
    assert s["n_enrolled"] == s["n_screened"] and s["ne"] == s["n_enrolled"] and s["pd"] == 0
    out = tmp_path / "t"
    assert main(["trial", "ball-cd19-iv", "--patients", "2", "--seed", "1", "--set", "days=7",
                 "--set", "width=50", "--set", "height=50", "--out", str(out), "--json"]) == 0
    assert json.loads((out / "summary.json").read_text())["ne"] == 2
    assert (out / "waterfall.png").stat().st_size > 0


@pytest.mark.parametrize("patients, seed, fragment", [("3", 0, "--patients '3'"), (3, -1, "--seed -1"),
                                                      (3, 1.5, "--seed 1.5")])
def test_run_trial_refuses_wrong_types(patients, seed, fragment):
    from sim import ScenarioError

    with pytest.raises(ScenarioError, match=fragment):
        run_trial(load_scenario("gastric-cldn18-iv"), patients, seed=seed)
    with pytest.raises(ScenarioError, match="CARTScenario"):
        run_trial("gastric-cldn18-iv", 3)


def test_cli_warns_that_sampled_traits_are_not_used(tmp_path, capsys, monkeypatch):
    import sim.trial
    from sim.cli import main

    monkeypatch.setattr(sim.trial, "run_trial", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    main(["trial", "gastric-cldn18-iv", "--patients", "2", "--set", "tcell_fitness=0",
          "--set", "antigen_negative_fraction=1", "--out", str(tmp_path / "t")])
    warning = capsys.readouterr().err.splitlines()[0]
    assert warning.startswith("cartsim: warning: trial: tcell_fitness, antigen_negative_fraction are drawn per patient")


def test_control_arm_from_a_preset_is_its_treatment_difference():
    from sim.cli import _control

    overrides = {"width": 50, "height": 50}
    ip = load_scenario("gastric-peritoneal-ip", overrides)
    assert _control(["gastric-peritoneal-iv"], ip, overrides) == {"route": "intravenous"}
    assert _control(["gastric-peritoneal-iv", "dose=5e8"], ip, overrides) == {"route": "intravenous", "dose": 5e8}


def test_ratio_and_block_randomisation():
    assert parse_ratio("2:1") == (2, 1) and parse_ratio(" 1 : 1 ") == (1, 1)
    arms = randomise(9, (2, 1), seed=3)
    assert arms.count("experimental") == 6 and arms.count("control") == 3
    assert all(arms[i:i + 3].count("control") == 1 for i in range(0, 9, 3))      # permuted blocks of 3
    assert randomise(9, (2, 1), seed=3) == arms and randomise(30, (1, 1), seed=4) != randomise(30, (1, 1), seed=5)


def test_two_arm_trial_randomises_the_same_screened_patients():
    scenario = load_scenario("gastric-cldn18-iv", {**SMALL, "days": 56})
    single = run_trial(scenario, 12, seed=6, workers=2, progress=False)
    trial = run_trial(scenario, 12, seed=6, workers=2, progress=False, control={"dose": 0.0}, ratio=(1, 1))
    p, s = trial.patients, trial.summary
    shared = ["patient", "seed", "antigen_negative_fraction", "biopsy_positive_share", "eligible"]
    assert p[shared].equals(single.patients[shared])                         # same population, same screening
    assert set(p[p.eligible].arm) == {"experimental", "control"} and p[~p.eligible].arm.isna().all()
    experimental = p[p.arm == "experimental"]
    assert experimental.drop(columns="arm").reset_index(drop=True).equals(
        single.patients[single.patients.patient.isin(experimental.patient)].reset_index(drop=True)[
            experimental.drop(columns="arm").columns])                        # experimental arm = single-arm runs
    assert s["experimental"]["n_enrolled"] + s["control"]["n_enrolled"] == s["n_enrolled"] == int(p.eligible.sum())
    assert s["control"]["dose"] == 0.0 and s["control"]["orr"] == 0.0
    assert {"hazard_ratio", "hazard_ratio_ci95", "logrank_p", "orr_difference", "orr_difference_ci95"} <= set(s)
    assert s["orr_difference"] == pytest.approx(s["experimental"]["orr"] - s["control"]["orr"], abs=1e-4)
    assert set(trial.arms) == {"experimental", "control"}
    assert all(set(arm.courses) == set(arm.patients.patient) for arm in trial.arms.values())


def test_cli_two_arm_trial_writes_both_arms(tmp_path):
    out = tmp_path / "t"
    p = subprocess.run([sys.executable, "-m", "sim.cli", "trial", "gastric-cldn18-iv", "--patients", "8",
                        "--set", "width=50", "--set", "height=50", "--set", "days=56", "--workers", "2",
                        "--control", "dose=0", "--ratio", "1:1", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "hazard ratio" in p.stdout and "experimental" in p.stdout and "control" in p.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ratio"] == "1:1" and summary["control_overrides"] == {"dose": 0.0}
    assert {"km.png", "waterfall-experimental.png", "waterfall-control.png"} <= {f.name for f in out.iterdir()}


def test_summary_of_a_trial_without_eligible_patients():
    table = pd.DataFrame({"patient": [0, 1], "eligible": [False, False], "biopsy_positive_share": [0.1, 0.0]})
    s = summarize_trial(table, load_scenario("gastric-cldn18-iv"))
    assert s["n_enrolled"] == 0 and s["screen_failure_rate"] == 1.0 and s["orr"] == 0.0
    assert s["pfs_median_days"] is None and s["pfs_rate_6m"] is None and s["n_progressed"] == 0


def test_cli_trial_without_eligible_patients_reports_and_writes(tmp_path):
    out = tmp_path / "t"
    p = subprocess.run([sys.executable, "-m", "sim.cli", "trial", "gastric-cldn18-iv", "--patients", "2", "--seed", "0",
                        "--set", "width=50", "--set", "height=50", "--set", "days=28", "--workers", "1",
                        "--control", "dose=0", "--out", str(out), "--json"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["n_enrolled"] == 0 and summary["hazard_ratio"] is None and summary["orr_difference"] is None
    assert {f.name for f in out.iterdir()} == {"patients.parquet", "summary.json", "km.png"}


def test_two_arm_trial_identical_for_one_and_two_workers():
    scenario = load_scenario("gastric-peritoneal-ip", SMALL)
    one = run_trial(scenario, 8, seed=5, workers=1, progress=False, control={"route": "intravenous"}, ratio=(2, 1))
    two = run_trial(scenario, 8, seed=5, workers=2, progress=False, control={"route": "intravenous"}, ratio=(2, 1))
    assert one.patients.equals(two.patients) and one.summary == two.summary
    assert set(one.patients.arm.dropna()) == {"experimental", "control"}


def test_a_marrow_patients_course_follows_its_disease_cells():
    """Marrow disease has no diameter: the spider plot's course is the change in its cells, finite."""
    import warnings

    from sim.trial import treat_patient

    params = load_scenario("ball-cd19-iv", {"width": 60, "height": 60, "days": 28}).params()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row = treat_patient(params, screen=False)
    assert row["course_pct"][0] == 0 and row["course_pct"][-1] < -50, row["course_pct"]


def test_severe_toxicity_counts_lost_normal_tissue_unless_the_target_tolerates_it():
    """A fifth or more of the normal target-bearing cells killed is severe for EGFR (epithelium), not for
    CD19 (B-cell aplasia is expected and managed): seeds/targets.toml's normal_loss_tolerable."""
    treated = pd.DataFrame({"best_response": ["PR", "SD", "SD"], "normal_cells_killed_fraction": [0.5, 0.2, 0.05],
                            "crs_grade": [1, 1, 1], "pseudo_progression": [False] * 3, "relapse": [False] * 3,
                            "pfs_days": [84.0] * 3, "progressed": [False] * 3, "response_day": [28.0, None, None],
                            "dor_days": [56.0, None, None]})
    assert outcome_summary(treated, load_scenario("egfr-iv"))["severe_toxicity_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert outcome_summary(treated, load_scenario("ball-cd19-iv"))["severe_toxicity_rate"] == 0.0


def test_response_traits_finds_the_trait_that_decides_response():
    """experiments/response_traits.py: in a synthetic trial where only suppression decides response, the
    regression gives suppression a large negative log-odds per sd and every other trait about none."""
    module = experiment_module("response_traits")
    n = 400
    patients = synthetic_trial_population(n)
    z = (patients.suppression - 0.5) / 0.15
    patients["best_response"] = np.where(np.random.default_rng(1).random(n + 20) < 1 / (1 + np.exp(3 * z)), "PR", "SD")
    rows = pd.DataFrame(module.traits_of_response("synthetic", patients)).set_index("trait")
    assert rows.treated.iloc[0] == n
    assert rows.loc["suppression", "log_odds_per_sd"] < -2 and rows.loc["suppression", "p"] < 1e-6
    assert rows.drop("suppression").log_odds_per_sd.abs().max() < 0.6, rows.log_odds_per_sd


def test_response_traits_gives_a_finite_size_when_one_trait_separates_responders():
    """Response that is a step in suppression (quasi-separation, as in the session-13 trials): maximum
    likelihood drifts to an unbounded coefficient; the Firth fit gives a finite, clearly negative one
    whose 95% CI excludes 0, and leaves the other traits near 0."""
    module = experiment_module("response_traits")
    n = 120
    patients = synthetic_trial_population(n)
    patients["best_response"] = np.where(patients.suppression < 0.45, "PR", "SD")
    rows = pd.DataFrame(module.traits_of_response("separated", patients)).set_index("trait")
    s = rows.loc["suppression"]
    assert np.isfinite([s.log_odds_per_sd, s.low95, s.high95]).all()
    assert -40 < s.log_odds_per_sd < -3 and s.high95 < 0 and s.p < 1e-6, s
    assert rows.drop("suppression").p.min() > 0.01, rows.p


def synthetic_trial_population(n: int) -> pd.DataFrame:
    """``n`` treated and 20 screened-out virtual patients with independent traits."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "eligible": np.r_[np.ones(n, bool), np.zeros(20, bool)],
        "suppression": rng.beta(5, 5, n + 20), "tcell_fitness": rng.beta(8.5, 1.5, n + 20),
        "antigen_negative_fraction": rng.uniform(0, 0.4, n + 20), "antigen_density_scale": rng.lognormal(0, 0.4, n + 20),
        "tumor_burden_cm3": rng.lognormal(3.5, 0.5, n + 20), "expansion_rate_per_day": rng.lognormal(-0.6, 0.2, n + 20),
        "stroma_scale": rng.lognormal(0, 0.3, n + 20), "lesion_diameter_mm": rng.lognormal(3.3, 0.3, n + 20)})

def test_durability_counts_relapses_among_the_treated_responders_only():
    """experiments/durability.py: screen failures and non-responders do not count; a relapse is dated
    by its first progression scan; the relapse-free share has a Wilson interval around it."""
    module = experiment_module("durability")
    patients = pd.DataFrame({
        "eligible": [True] * 8 + [False, False],
        "best_response": ["CR", "CR", "CR", "PR", "PR", "CR", "SD", "PD", "CR", "CR"],
        "relapse": [False, False, True, True, False, True, False, False, True, False],
        "pfs_days": [180, 180, 56, 140, 180, 84, 180, 28, 30, 180],
        "negative_clone": [False, False, True, False, False, False, True, False, True, False],
        "cart_peak": [1e11, 2e11, 3e11, 4e11, 5e11, 6e11, 7e11, 8e11, 0.0, 0.0],
    })
    d = module.durability(patients)
    assert (d["n_treated"], d["responders"], d["complete_responses"]) == (8, 6, 4)
    assert d["orr"] == pytest.approx(6 / 8)
    assert (d["relapsed_by_day_84"], d["relapsed_by_day_180"], d["relapses_with_negative_clone"]) == (2, 3, 1)
    assert d["relapse_free_180"] == pytest.approx(0.5)
    assert d["relapse_free_low95"] < 0.5 < d["relapse_free_high95"]
    assert d["median_blood_peak"] == pytest.approx(4.5e11)


def test_only_rerun_replaces_its_rows_keeps_the_others_and_refuses_another_screening(tmp_path):
    """experiments/*.py --only: a rerun replaces the named rows of the table already written, in the
    experiment's order, and refuses a table written with another number of screened patients."""
    import argparse

    merge_rerun = experiment_module("common").merge_rerun
    pd.DataFrame({"case": ["a", "b", "c"], "n_screened": 110, "orr": [0.1, 0.2, 0.3]}).to_csv(tmp_path / "t.csv",
                                                                                              index=False)
    args = argparse.Namespace(only=["b"], out=tmp_path, patients=110)
    merged = merge_rerun(args, "t", pd.DataFrame({"case": ["b"], "n_screened": [110], "orr": [0.9]}), "case",
                         ["a", "b", "c"])
    assert merged.case.tolist() == ["a", "b", "c"] and merged.orr.tolist() == [0.1, 0.9, 0.3]
    args.patients = 40
    with pytest.raises(SystemExit, match="110"):
        merge_rerun(args, "t", pd.DataFrame({"case": ["b"], "n_screened": [40], "orr": [0.9]}), "case", ["a", "b", "c"])
