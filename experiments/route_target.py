"""Route x target: response rate (CR+PR) for each target at its site, by delivery route.

    python experiments/route_target.py [--seed S] [--workers K]

Writes docs/experiments/route_target.csv and route_target.png.
"""

from common import options, publish, seeded, sweep_table

import matplotlib.pyplot as plt
from sim.plots import heatmap

def main() -> None:
    args = options(__doc__, sweep_seed=True)
    table = sweep_table("route_target", args)
    table["lesion"] = table.param_target + " / " + table.param_site
    rates = table.pivot_table(index="lesion", columns="param_route", values="responded", aggfunc="mean", sort=False)
    rates = rates[[r for r in ["intravenous", "hepatic_arterial", "intraperitoneal", "intrapleural", "intraventricular",
                               "intratumoral"]
                   if r in rates.columns]]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    image = heatmap(ax, rates, f"response rate (CR+PR by day 56, {table.replicate.nunique()} seeds per cell)")
    fig.colorbar(image, ax=ax, format=lambda v, _: f"{v:.0%}")
    ax.set_xlabel("route")
    publish(args, seeded("route_target", args), rates, fig, index=True)


if __name__ == "__main__":  # the sweep's worker processes import this file
    main()
