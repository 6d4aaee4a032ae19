"""Dose-response: response rate, on-target off-tumour toxicity and CRS against dose, per route.

    python experiments/dose_response.py [--seed S] [--workers K]

Writes docs/experiments/dose_response.csv and dose_response.png (``dose_response_seedS`` with
another base seed than the sweep file's).
"""

from common import options, publish, seeded, sweep_table

from sim.trial import wilson

import matplotlib.pyplot as plt

def main() -> None:
    args = options(__doc__, sweep_seed=True)
    table = sweep_table("dose_response", args)
    summary = table.groupby("param_dose").agg(
        runs=("responded", "size"), response_rate=("responded", "mean"),
        best_pct_change=("best_pct_change", "median"), cart_peak_fold=("cart_peak", "median"),
        crs_grade=("crs_grade", "mean")).reset_index()
    summary["cart_peak_fold"] /= summary.param_dose.where(summary.param_dose > 0)
    ci = [wilson(round(r * n), n) for r, n in zip(summary.response_rate, summary.runs)]
    summary["response_low95"], summary["response_high95"] = zip(*ci)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    dose = summary.param_dose.clip(lower=1e7)
    axes[0].fill_between(dose, 100 * summary.response_low95, 100 * summary.response_high95, alpha=0.2)
    axes[0].semilogx(dose, 100 * summary.response_rate, "o-")
    axes[0].axvspan(2.5e8, 5e8, color="#c7e9c0", alpha=0.6, label="CT041 doses")
    axes[0].legend(fontsize=10)
    axes[1].semilogx(dose, summary.best_pct_change, "o-")
    axes[2].semilogx(dose, summary.crs_grade, "o-")
    for ax, label in zip(axes, ["response rate (%, Wilson 95% CI)", "median best % change", "mean CRS grade (proxy)"]):
        ax.set_xlabel("dose (CAR-T cells; untreated drawn at 1e7)")
        ax.set_ylabel(label)
    fig.suptitle(f"gastric CLDN18.2 lesion (25% antigen-negative), intravenous, 100x100 "
                 f"({int(summary.runs.iloc[0])} seeds per dose)")
    publish(args, seeded("dose_response", args), summary, fig)


if __name__ == "__main__":  # the sweep's worker processes import this file
    main()
