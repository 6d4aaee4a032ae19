"""Matplotlib figures of a run: the time course and the lattice."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from sim.tcells import Phenotype  # noqa: E402
from sim.tissue import NEGATIVE_BELOW  # noqa: E402

CALL_COLOURS = {"CR": "#1a9850", "PR": "#91cf60", "SD": "#fee08b", "PD": "#d73027"}
PHENOTYPE_COLOURS = {Phenotype.EFFECTOR: "#00c853", Phenotype.MEMORY: "#2962ff", Phenotype.EXHAUSTED: "#212121"}
ANTIGEN_CMAP = LinearSegmentedColormap.from_list("antigen", ["#fdd0a2", "#f16913", "#7f2704"])
"""Tumour cells: light (antigen-low) to dark orange (antigen-high)."""
NEGATIVE_COLOUR = (0.55, 0.25, 0.75)
NORMAL_COLOUR = (0.80, 0.87, 0.95)
STROMA_COLOUR = np.array((0.87, 0.80, 0.62))
VESSEL_COLOUR = (0.85, 0.10, 0.10)
DEBRIS_COLOUR = (0.45, 0.45, 0.45)


def timecourse(result, path) -> None:
    """Four panels: lesion size with RECIST calls, antigen-negative share, CAR-T, cytokine."""
    ts, scans, s = result.timeseries, result.scans, result.scenario
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    ax = axes[0, 0]
    ax.plot(ts.day, ts.apparent_mm, color="#6a3d9a", label="apparent (imaging)")
    ax.plot(ts.day, ts.viable_mm, color="#e6550d", label="viable tumour")
    for _, scan in scans.iterrows():
        ax.axvline(scan.day, color="0.85", lw=0.8, zorder=0)
        if scan.call:
            ax.annotate(scan.irecist if scan.irecist.endswith("UPD") else scan.call, (scan.day, scan.apparent_mm),
                        xytext=(0, 8), textcoords="offset points", ha="center", fontsize=9, weight="bold",
                        bbox=dict(boxstyle="round,pad=0.2", fc=CALL_COLOURS[scan.call], ec="none"))
    ax.scatter(scans.day, scans.apparent_mm, color="#6a3d9a", zorder=3, s=18)
    ax.set_ylabel("longest diameter (mm)")
    ax.set_title(f"lesion (best response {result.summary['best_response']}, "
                 f"{result.summary['best_pct_change']:+.0f}%)")
    ax.legend(loc="best", fontsize=8)

    ax = axes[0, 1]
    ax.plot(ts.day, 100 * ts.antigen_negative_fraction, color=NEGATIVE_COLOUR)
    ax.set_ylabel("antigen-negative tumour cells (%)")
    ax.set_ylim(0, 100)
    ax2 = ax.twinx()
    ax2.plot(ts.day, ts.tumor_cells, color="#e6550d", ls="--", lw=1)
    ax2.set_ylabel("viable tumour cells on lattice", color="#e6550d")
    ax.set_title("antigen escape")

    ax = axes[1, 0]
    for name, phen in (("effector", Phenotype.EFFECTOR), ("memory", Phenotype.MEMORY), ("exhausted", Phenotype.EXHAUSTED)):
        ax.plot(ts.day, ts[f"cart_{name}"], color=PHENOTYPE_COLOURS[phen], label=f"lesion {name}")
    ax.set_ylabel("CAR-T cells in lesion (agents)")
    ax.legend(loc="upper left", fontsize=8)
    ax2 = ax.twinx()
    ax2.semilogy(ts.day, np.maximum(ts.cart_blood, 1), color="#b2182b", ls="--", label="blood")
    if ts.cart_region.max() > 0:
        ax2.semilogy(ts.day, np.maximum(ts.cart_region, 1), color="#8c6d31", ls=":", label="region (cavity, liver, CSF)")
    ax2.set_ylabel("CAR-T cells outside the lesion (cells)", color="#b2182b")
    ax2.legend(loc="upper right", fontsize=8)
    ax.set_title("CAR-T expansion and persistence")
    ax.set_xlabel("days after infusion")

    ax = axes[1, 1]
    ax.plot(ts.day, ts.cytokine, color="#d95f0e")
    ax.set_ylabel("systemic cytokine index (CRS proxy)")
    ax.set_title(f"toxicity: CRS grade {result.summary['crs_grade']}, "
                 f"normal cells killed {100 * result.summary['normal_cells_killed_fraction']:.1f}%")
    ax.set_xlabel("days after infusion")
    fig.suptitle(f"{s.target} / {s.site} / {s.route}, dose {s.dose:.2g} cells, seed {s.seed}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def lattice_rgb(model) -> np.ndarray:
    """RGB image (height x width x 3, origin lower) of the tissue, stroma, vessels and debris."""
    t = model.tissue
    rgb = np.ones(t.shape + (3,))
    rgb = rgb * (1 - t.stroma[..., None] * 0.6) + STROMA_COLOUR * t.stroma[..., None] * 0.6
    rgb[t.normal] = NORMAL_COLOUR
    rgb[t.debris > 0.3] = DEBRIS_COLOUR
    positive = t.tumor & (t.antigen_setpoint >= NEGATIVE_BELOW)
    rgb[positive] = ANTIGEN_CMAP(np.clip(t.antigen[positive], 0, 1.2) / 1.2)[:, :3]
    rgb[t.tumor & ~positive] = NEGATIVE_COLOUR
    rgb[t.vessel] = VESSEL_COLOUR
    return np.transpose(rgb, (1, 0, 2))


def draw_lattice(model, ax) -> None:
    """Draw the lattice with CAR-T cells by phenotype on ``ax``."""
    ax.imshow(lattice_rgb(model), origin="lower", interpolation="nearest")
    for phen, colour in PHENOTYPE_COLOURS.items():
        xy = np.array([a.cell.coordinate for a in model.agents if a.phenotype == phen]).reshape(-1, 2)
        ax.scatter(xy[:, 0], xy[:, 1], s=9, c=colour, edgecolors="white", linewidths=0.3)
    ax.set_xticks([])
    ax.set_yticks([])


def lattice(result, path) -> None:
    """The final lattice with a legend."""
    fig, ax = plt.subplots(figsize=(7.5, 7))
    draw_lattice(result.model, ax)
    handles = [Patch(color=ANTIGEN_CMAP(0.9), label="tumour, antigen high"),
               Patch(color=ANTIGEN_CMAP(0.1), label="tumour, antigen low"),
               Patch(color=NEGATIVE_COLOUR, label="tumour, antigen-negative"),
               Patch(color=NORMAL_COLOUR, label="normal tissue"), Patch(color=STROMA_COLOUR, label="stroma"),
               Patch(color=VESSEL_COLOUR, label="vessel"), Patch(color=DEBRIS_COLOUR, label="debris"),
               *[Patch(color=c, label=f"CAR-T {p.name.lower()}") for p, c in PHENOTYPE_COLOURS.items()]]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    ax.set_title(f"day {result.scenario.days}: {result.summary['final_tumor_cells']} tumour cells, "
                 f"{len(result.model.agents)} CAR-T cells")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def heatmap(ax, table, title: str, fmt: str = "{:.0%}", vmin: float = 0.0, vmax: float = 1.0, cmap: str = "viridis"):
    """Annotated heat map of a 2D table (pandas DataFrame: rows x columns); NaN cells blank."""
    values = table.to_numpy(dtype=float)
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns], rotation=30, ha="right")
    ax.set_yticks(range(table.shape[0]), [str(i) for i in table.index])
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8,
                    color="white" if v < vmin + 0.5 * (vmax - vmin) else "black")
    ax.set_title(title)
    return image
