"""Suppression x affinity: response rate and normal cells killed for an EGFR CAR (target on normal epithelium).

    python experiments/suppression_affinity.py [--seed S] [--workers K]

Writes docs/experiments/suppression_affinity.csv and suppression_affinity.png.
"""

from common import options, publish, seeded, sweep_table

import matplotlib.pyplot as plt
from sim.plots import heatmap

def main() -> None:
    args = options(__doc__, sweep_seed=True)
    table = sweep_table("suppression_affinity", args)
    grouped = table.groupby(["param_suppression", "param_car_affinity"])
    summary = grouped.agg(response_rate=("responded", "mean"),
                          normal_killed=("normal_cells_killed_fraction", "mean")).reset_index()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, column, title in zip(axes, ["response_rate", "normal_killed"],
                                 ["response rate (CR+PR)", "normal EGFR-bearing cells killed"]):
        grid = summary.pivot(index="param_suppression", columns="param_car_affinity", values=column)
        grid.index = [f"suppression {v:g}" for v in grid.index]
        grid.columns = [f"K = {v:g}" for v in grid.columns]
        heatmap(ax, grid, title, vmax=max(1e-9, float(grid.to_numpy().max())) if column == "normal_killed" else 1.0)
        ax.set_xlabel("CAR affinity: antigen density at half-maximal killing (lower = higher affinity)")
    publish(args, seeded("suppression_affinity", args), summary, fig)


if __name__ == "__main__":  # the sweep's worker processes import this file
    main()
