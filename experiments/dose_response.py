"""Dose-response: response rate, best change and CRS against dose, for one patient and for dose cohorts.

    python experiments/dose_response.py [--seed S] [--patients N] [--workers K]

Two readings of the same dose grid (``experiments/dose_response.toml``), gastric CLDN18.2
intravenously:

* the sweep: a reference lesion (the preset with 25% antigen-negative cells, the CLDN18.2
  trial population's mean, product fitness 1, 56 days), 16 seeds per dose: how one
  patient's lesion answers dose;
* dose cohorts: the clinical table's virtual trial of the preset (84 days) at each dose
  (``--patients`` screened, the same patients in every cohort, trial seed = the base
  seed), as a dose-escalation trial reads it (ORR per cohort), over a population whose
  suppression, stroma, antigen, burden and product fitness vary.

Writes docs/experiments/dose_response.csv and dose_response.png (``dose_response_seedS`` with
another base seed than the sweep file's). Each cohort's summary is kept in the runs folder,
so an interrupted run resumes.
"""

import json
import tomllib

from common import HERE, options, publish, seeded, sweep_table

from sim import load_scenario
from sim.sweep import model_version
from sim.trial import run_trial, wilson

import matplotlib.pyplot as plt
import pandas as pd

PATIENTS = 110
"""Patients screened per dose cohort, as in the clinical table."""
CT041_RESPONDERS = (18, 37)
"""CT041's responders and patients treated at 2.5e8, 3.75e8 or 5e8 cells (ORR 48.6%, REFERENCE.md; interim report,
Qi et al., Nat Med 2022), drawn at 2.5e8: the interim report's split by dose is not used here; in the final report
89 of 98 patients received 2.5e8 (Qi et al., Nat Med 2024)."""

def main() -> None:
    args = options(__doc__, sweep_seed=True, patients=PATIENTS)
    table = sweep_table("dose_response", args)
    summary = table.groupby("param_dose").agg(
        runs=("responded", "size"), response_rate=("responded", "mean"),
        best_pct_change=("best_pct_change", "median"), cart_peak_fold=("cart_peak", "median"),
        crs_grade=("crs_grade", "mean")).reset_index()
    summary["cart_peak_fold"] /= summary.param_dose.where(summary.param_dose > 0)
    ci = [wilson(round(r * n), n) for r, n in zip(summary.response_rate, summary.runs)]
    summary["response_low95"], summary["response_high95"] = zip(*ci)
    summary = summary.merge(dose_cohorts(args, summary.param_dose[summary.param_dose > 0]), on="param_dose", how="left")
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    dose = summary.param_dose.clip(lower=1e7)
    axes[0].fill_between(dose, 100 * summary.response_low95, 100 * summary.response_high95, alpha=0.2)
    axes[0].semilogx(dose, 100 * summary.response_rate, "o-", label="reference lesion (seeds, day 56)")
    treated = summary.dropna(subset=["cohort_orr"])
    axes[0].errorbar(treated.param_dose, 100 * treated.cohort_orr, fmt="s--", color="C3", capsize=3,
                     yerr=[100 * (treated.cohort_orr - treated.cohort_low95), 100 * (treated.cohort_high95 - treated.cohort_orr)],
                     label=f"dose cohorts (ORR by day 84, {int(treated.cohort_enrolled.iloc[0])} treated each)")
    axes[0].axvspan(2.5e8, 5e8, color="#c7e9c0", alpha=0.6, label="CT041 doses")
    low, high = wilson(*CT041_RESPONDERS)
    orr = CT041_RESPONDERS[0] / CT041_RESPONDERS[1]
    axes[0].errorbar([2.5e8], [100 * orr], yerr=[[100 * (orr - low)], [100 * (high - orr)]], fmt="D", color="k",
                     capsize=3, label="CT041 ORR, 18/37 (Qi et al. 2022)")
    axes[0].legend(fontsize=7, loc="upper left")
    axes[1].semilogx(dose, summary.best_pct_change, "o-")
    axes[2].semilogx(dose, summary.crs_grade, "o-")
    for ax, label in zip(axes, ["response rate (%, Wilson 95% CI)", "median best % change", "mean CRS grade (proxy)"]):
        ax.set_xlabel("dose (CAR-T cells; untreated drawn at 1e7)")
        ax.set_ylabel(label)
    fig.suptitle(f"gastric CLDN18.2, intravenous, 100x100: a reference lesion (the preset, 25% antigen-negative, "
                 f"{int(summary.runs.iloc[0])} seeds per dose) and dose cohorts ({args.patients} screened each)")
    publish(args, seeded("dose_response", args), summary, fig)


def dose_cohorts(args, doses) -> pd.DataFrame:
    """ORR (share, with its Wilson 95% CI) and patients treated per dose cohort: the sweep file's base preset
    as a virtual trial at each dose (cells), as the clinical table runs it (the preset's own follow-up, 84
    days), the same patients in every cohort (trial seed = the base seed). Each cohort's summary is kept in
    the runs folder with what it was computed from (model version, seed, patients, scenario), so a rerun
    resumes and reuses nothing computed from anything else."""
    spec = tomllib.loads((HERE / "dose_response.toml").read_text())
    seed = args.seed if args.seed is not None else spec["seed"]
    folder = args.runs / f"{seeded('dose_response', args)}_cohorts"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, dose in enumerate(doses):
        scenario = load_scenario(spec["base"], {"dose": float(dose)})
        key = json.dumps({"model_version": model_version(), "seed": seed, "patients": args.patients,
                          "scenario": scenario.params()}, sort_keys=True, default=str)
        done = folder / f"cohort-{i}.json"
        kept = json.loads(done.read_text()) if done.exists() else {}
        if kept.get("key") != key:
            s = run_trial(scenario, args.patients, seed=seed, workers=args.workers).summary
            kept = {"key": key, "row": {"param_dose": float(dose), "cohort_enrolled": s["n_enrolled"],
                                        "cohort_orr": s["orr"], "cohort_low95": s["orr_ci95"][0],
                                        "cohort_high95": s["orr_ci95"][1]}}
            tmp = done.with_suffix(".part")
            tmp.write_text(json.dumps(kept))
            tmp.replace(done)
        rows.append(kept["row"])
    return pd.DataFrame(rows)


if __name__ == "__main__":  # the sweep's worker processes import this file
    main()
