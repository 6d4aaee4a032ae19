"""Figures of the teaching lessons in docs/lessons/ (one command regenerates all seven).

    python experiments/lessons.py [--out docs/lessons/figures]

Each lesson runs a few scenarios on the default 100x100 lattice with the seed its text
and its "In the app" steps name, snapshots the lattice on chosen days and plots the time
courses.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sim import CARTModel, load_scenario  # noqa: E402
from sim.model import summarize  # noqa: E402
from sim.plots import PHENOTYPE_COLOURS, lattice_rgb, save  # noqa: E402
from sim.viz.frames import FIELD_SCALES  # noqa: E402

SEED = 42
"""The app's default seed: lessons 1, 2, 3, 5 and 7 are told on it."""
RESPONDER_SEED = 58
"""A gastric patient who responds (about half of the model's gastric patients do; seed 42 does not)
and whose lesion reads larger at an early scan on day 14 while its viable part shrinks
(pseudo-progression), then iPR on day 28: lessons 4 and 6, and the app's test of lesson 4
(tests/test_viz.py)."""


def simulate(scenario, snapshot_days=(), field: str | None = None):
    """Run to the horizon; return (time series, summary, {day: (rgb, CAR-T xy, (field, its values) or None)})."""
    model = CARTModel(scenario)
    snaps = {}
    while True:
        day = model.steps / 24
        if day in snapshot_days:
            xy = np.array([(*a.cell.coordinate, a.phenotype) for a in model.agents]).reshape(-1, 3)
            snaps[day] = (lattice_rgb(model), xy, (field, getattr(model.fields, field).T.copy()) if field else None)
        if not model.running:
            break
        model.step()
    return model.datacollector.get_model_vars_dataframe(), summarize(model), snaps


def show(ax, snap, title):
    """The lattice, its CAR-T cells and, if the snapshot holds one, its (name, field) on the app's fixed scale."""
    rgb, xy, field = snap
    ax.imshow(rgb, origin="lower", interpolation="nearest")
    if field is not None:
        name, values = field
        ax.imshow(np.ma.masked_less(values, 0.02), origin="lower", cmap="magma", alpha=0.5, interpolation="nearest",
                  vmin=0, vmax=FIELD_SCALES[name])
    for phen, colour in PHENOTYPE_COLOURS.items():
        pts = xy[xy[:, 2] == phen]
        ax.scatter(pts[:, 0], pts[:, 1], s=5, c=colour, edgecolors="none")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def lesson_arms(arms: dict[str, object], days: tuple[int, ...], path: Path, column: str, ylabel: str,
                title: str, field: str | None = None, second: tuple[str, str] | None = None) -> None:
    """Rows: arms; columns: lattice on ``days``, then ``column`` over time for all arms
    (and, if ``second`` = (column, ylabel) is given, that column in a panel below)."""
    results = {label: simulate(s, days, field) for label, s in arms.items()}
    fig = plt.figure(figsize=(3.0 * len(days) + 4.5, 3.0 * len(arms)))
    grid = fig.add_gridspec(len(arms), len(days) + 2)
    if second:
        inner = grid[:, len(days):].subgridspec(2, 1, hspace=0.3)
        curve, lower = fig.add_subplot(inner[0]), fig.add_subplot(inner[1])
    else:
        curve, lower = fig.add_subplot(grid[:, len(days):]), None
    for row, (label, (ts, summary, snaps)) in enumerate(results.items()):
        for col, day in enumerate(days):
            show(fig.add_subplot(grid[row, col]), snaps[day], f"{label}\nday {day}")
        curve.plot(ts.day, ts[column], label=f"{label}: {summary['best_response']}")
        if lower is not None:
            lower.plot(ts.day, ts[second[0]])
    curve.set_ylabel(ylabel)
    curve.legend(fontsize=8)
    if lower is not None:
        lower.set_ylabel(second[1])
        lower.set_xlabel("days after infusion")
    else:
        curve.set_xlabel("days after infusion")
    fig.suptitle(title)
    save(fig, path, dpi=100)


def lesson_pseudo(path: Path) -> None:
    """Apparent vs viable size, with the lattice and inflammation at the swelling."""
    scenario = load_scenario("gastric-cldn18-iv", {"seed": RESPONDER_SEED})
    ts, summary, snaps = simulate(scenario, (0, 14, 28), "inflammation")
    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    for ax, day in zip(axes, (0, 14, 28)):
        show(ax, snaps[day], f"day {day} (inflammation overlay)")
    ax = axes[3]
    ax.plot(ts.day, ts.apparent_mm, color="#6a3d9a", label="apparent (what the scan measures)")
    ax.plot(ts.day, ts.viable_mm, color="#e6550d", label="viable tumour")
    ax2 = ax.twinx()
    ax2.plot(ts.day, 100 * ts.density, color="0.5", ls=":", label="density (viable share of apparent)")
    ax2.set_ylabel("density proxy (%)")
    ax.axhline(ts.apparent_mm.iloc[0] * 1.2, color="#d73027", ls="--", lw=1, label="+20%: PD line")
    ax.set_xlabel("days after infusion")
    ax.set_ylabel("longest diameter (mm)")
    ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Pseudo-progression: the lesion swells with CAR-T cells and edema while tumour cells die")
    save(fig, path, dpi=100)


def lesson_lasting(path: Path) -> None:
    """One peritoneal lesion, intraperitoneal vs intravenous, followed to day 112: response is not durability."""
    ip = load_scenario("gastric-peritoneal-ip", {"seed": RESPONDER_SEED, "days": 112})
    lesson_arms({"intraperitoneal": ip, "intravenous": ip.replace(route="intravenous")}, (28, 56, 112), path,
                "apparent_mm", "longest diameter on the scan (mm)",
                "Is it a response that lasts? A deep response, then regrowth from the nadir")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "docs" / "lessons" / "figures")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    seed = {"seed": SEED}
    lesson_arms({"B-ALL, CD19, IV": load_scenario("ball-cd19-iv", seed),
                 "gastric, CLDN18.2, IV": load_scenario("gastric-cldn18-iv", seed)},
                (0, 14, 42), args.out / "lesson1-leukaemia-vs-gastric.png", "tumor_cells",
                "viable tumour cells on the lattice", "Why CD19 leukaemia responds and a gastric lesion struggles")
    peritoneal = load_scenario("gastric-peritoneal-iv", seed)
    lesson_arms({route: peritoneal.replace(route=route) for route in ("intravenous", "intraperitoneal", "intratumoral")},
                (7, 21), args.out / "lesson2-route.png", "cart_lesion", "CAR-T cells in the lesion",
                "Route matters: one peritoneal lesion, three routes")
    escape = load_scenario("gastric-cldn18-iv", {**seed, "route": "intratumoral", "dose": 1e9,
                                                  "antigen_negative_fraction": 0.1})
    lesson_arms({"10% antigen-negative": escape, "0% antigen-negative": escape.replace(antigen_negative_fraction=0.0)},
                (0, 21, 84), args.out / "lesson3-escape.png", "antigen_negative_fraction",
                "antigen-negative share of tumour cells", "Antigen escape: CAR-T cells select the cells they cannot see")
    lesson_pseudo(args.out / "lesson4-pseudo-progression.png")
    liver = load_scenario("hcc-gpc3-iv", {"seed": SEED, "route": "intratumoral", "dose": 1e9, "days": 42,
                                          "car_affinity": 0.05})
    lesson_arms({"EGFR, high affinity (K 0.05)": liver.replace(target="EGFR"),
                 "EGFR, lower affinity (K 0.3)": liver.replace(target="EGFR", car_affinity=0.3),
                 "GPC3, high affinity (K 0.05)": liver},
                (0, 21), args.out / "lesson5-on-target-off-tumour.png", "normal_killed",
                "normal liver cells killed by CAR-T (lattice)", "On-target, off-tumour toxicity and the affinity "
                "trade-off (liver lesion, 1e9 cells intratumoral)", second=("tumor_cells", "viable tumour cells"))
    lesson_lasting(args.out / "lesson6-lasting.png")
    lesson_arms({"no surgery": load_scenario("gastric-cldn18-iv", seed),
                 "half resected before infusion": load_scenario("gastric-cldn18-iv-debulked", seed)},
                (0, 28), args.out / "lesson7-surgery.png", "tumor_cells", "viable tumour cells on the lattice",
                "Surgery before CAR-T: less tumour to clear and a weaker myeloid brake (myeloid overlay)",
                field="myeloid", second=("cart_lesion", "CAR-T cells in the lesion"))
    print(f"lesson figures written to {args.out}")


if __name__ == "__main__":
    main()
