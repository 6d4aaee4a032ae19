"""Route x target: response rate (CR+PR) for each target at its site, by delivery route.

    python experiments/route_target.py [--seed S] [--workers K]

Writes docs/experiments/route_target.csv (response rates) and route_target.png, whose
cells also say in how many runs the CAR-T cells killed a severe share of the normal
target-bearing tissue (``sim.toxicity.severe_off_tumour``): a response the clinic
would not reach, since it stops for toxicity first.
"""

from common import options, publish, seeded, sweep_table

import matplotlib.pyplot as plt
from sim import tables
from sim.plots import heatmap
from sim.toxicity import severe_off_tumour


def main() -> None:
    args = options(__doc__, sweep_seed=True)
    table = sweep_table("route_target", args)
    table["lesion"] = table.param_target + " / " + table.param_site
    table["severe_off_tumour"] = [bool(severe_off_tumour(f, t))
                                  for f, t in zip(table.normal_cells_killed_fraction, table.param_target)]
    rates = table.pivot_table(index="lesion", columns="param_route", values="responded", aggfunc="mean", sort=False)
    rates = rates[[r for r in tables.routes() if r in rates.columns]]   # columns in seeds/routes.toml's order
    toxic = table.pivot_table(index="lesion", columns="param_route", values="severe_off_tumour", aggfunc="sum",
                              sort=False)
    notes = toxic.map(lambda k: f"{k:.0f} toxic" if k else "")
    fig, ax = plt.subplots(figsize=(8, 5.5))
    image = heatmap(ax, rates, f"response rate (CR+PR by day 56, {table.replicate.nunique()} seeds per cell;\n"
                    "'k toxic': runs with severe on-target, off-tumour toxicity)", notes=notes)
    fig.colorbar(image, ax=ax, format=lambda v, _: f"{v:.0%}")
    ax.set_xlabel("route")
    publish(args, seeded("route_target", args), rates, fig, index=True)


if __name__ == "__main__":  # the sweep's worker processes import this file
    main()
