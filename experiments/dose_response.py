"""Dose-response: response rate, on-target off-tumour toxicity and CRS against dose, per route.

    python experiments/dose_response.py [--workers K]

Writes docs/experiments/dose_response.csv and dose_response.png.
"""

from common import options, publish, sweep_table

import matplotlib.pyplot as plt

def main() -> None:
    args = options(__doc__)
    table = sweep_table("dose_response", args)
    summary = table.groupby(["param_route", "param_dose"]).agg(
        response_rate=("responded", "mean"), best_pct_change=("best_pct_change", "median"),
        normal_killed=("normal_cells_killed_fraction", "mean"), crs_grade=("crs_grade", "mean")).reset_index()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for route, rows in summary.groupby("param_route"):
        dose = rows.param_dose.clip(lower=1e7)
        axes[0].semilogx(dose, 100 * rows.response_rate, "o-", label=route)
        axes[1].semilogx(dose, 100 * rows.normal_killed, "o-", label=route)
        axes[2].semilogx(dose, rows.crs_grade, "o-", label=route)
    for ax, label in zip(axes, ["response rate (%)", "normal target-bearing cells killed (%)", "mean CRS grade (proxy)"]):
        ax.set_xlabel("dose (CAR-T cells; untreated drawn at 1e7)")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.suptitle("peritoneal CLDN18.2 lesion: more cells, more response and more toxicity")
    publish(args, "dose_response", summary, fig)


if __name__ == "__main__":  # the sweep's worker processes import this file
    main()
