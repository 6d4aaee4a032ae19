"""cartsim in the browser: a Mesa SolaraViz page for teaching.

    cartsim viz            # then open http://127.0.0.1:8765

Left: the controls (a scenario preset, what to change from it, a second route or
target to compare on the same seed, the seed, hours per frame; then Reset).
Main: the lattice of each arm (tumour cells coloured by antigen, antigen-negative
cells violet, normal tissue, stroma, vessels, debris; CAR-T cells by phenotype;
a field as a heat map on demand) and the time course: apparent vs viable lesion
with a RECIST call at each scan, CAR-T cells in lesion and blood, and the
antigen-negative share.
"""

from __future__ import annotations

import numpy as np
import solara
from matplotlib.figure import Figure
from mesa.visualization import SolaraViz, Slider
from mesa.visualization.utils import update_counter

from sim import tables
from sim.imaging import assess
from sim.plots import CALL_COLOURS, NEGATIVE_COLOUR, draw_lattice
from sim.scenario import preset_files
from sim.schedule import is_scan_day
from sim.viz.comparison import FROM_PRESET, NONE, Comparison

FIELDS = ["none", "suppression", "chemokine", "inflammation"]
ARM_STYLES = ["-", "--"]


def lattice_figure(model: Comparison, field: str = "none") -> Figure:
    """The lattice of each arm side by side, with a field overlay if asked."""
    fig = Figure(figsize=(3.8 * len(model.arms), 4.1), dpi=80)
    for i, (label, arm) in enumerate(model.arms.items(), start=1):
        ax = fig.add_subplot(1, len(model.arms), i)
        draw_lattice(arm, ax)
        if field != "none":
            values = getattr(arm.fields, field).T
            ax.imshow(np.ma.masked_less(values, 0.02), origin="lower", cmap="magma", alpha=0.55,
                      vmin=0, vmax=max(float(values.max()), 1e-6), interpolation="nearest")
        ax.set_title(f"{label}\nday {arm.steps / 24:.1f}: {arm.tissue.tumor_cells()} tumour cells, "
                     f"{len(arm.agents)} CAR-T", fontsize=9)
    fig.tight_layout()
    return fig


def course_figure(model: Comparison) -> Figure:
    """Three panels: lesion diameters with scan calls; CAR-T in lesion and blood; antigen-negative share."""
    fig = Figure(figsize=(7.6, 7.2), dpi=80)
    size, cart, escape = fig.subplots(3, 1, sharex=True)
    blood = cart.twinx()
    for style, short, arm in zip(ARM_STYLES, _short_labels(list(model.arms)), model.arms.values()):
        ts = arm.datacollector.get_model_vars_dataframe()
        size.plot(ts.day, ts.apparent_mm, style, color="#6a3d9a", label=f"apparent, {short}")
        size.plot(ts.day, ts.viable_mm, style, color="#e6550d", label=f"viable, {short}")
        for scan in arm.scans[1:]:
            call = _scan_call(arm, scan)
            size.annotate(call, (scan.day, scan.apparent_mm), xytext=(0, 6), textcoords="offset points",
                          ha="center", fontsize=8, weight="bold",
                          bbox=dict(boxstyle="round,pad=0.2", fc=CALL_COLOURS[call[-2:]], ec="none"))
        cart.plot(ts.day, ts.cart_lesion, style, color="#00a040", label=f"lesion, {short}")
        blood.semilogy(ts.day, ts.cart_blood.clip(lower=1), style, color="#b2182b", lw=1, label=f"blood, {short}")
        escape.plot(ts.day, 100 * ts.antigen_negative_fraction, style, color=NEGATIVE_COLOUR, label=short)
    first = next(iter(model.arms.values())).scenario
    for scan_day in range(int(max(model.day, 1)) + 1):
        if is_scan_day(scan_day, first):
            size.axvline(scan_day, color="0.85", lw=0.8, zorder=0)
    size.set_title("lesion: longest diameter (mm); scans marked")
    cart.set_title("CAR-T cells: lesion (lattice, green) and blood (patient, red, log)")
    blood.legend(fontsize=7, loc="upper right")
    escape.set_title("antigen-negative tumour cells (%)")
    escape.set_ylim(0, 100)
    escape.set_xlabel("days after infusion")
    for ax in (size, cart, escape):
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def _short_labels(labels: list[str]) -> list[str]:
    """Arm labels reduced to the parts in which the arms differ ("intravenous", "intraperitoneal")."""
    parts = [label.split(" / ") for label in labels]
    differ = [i for i in range(len(parts[0])) if len({p[i] for p in parts}) > 1]
    return [" / ".join(p[i] for i in differ) or labels[0] for p in parts]


def _scan_call(arm, scan) -> str:
    """The RECIST call at a scan as read so far (iUPD while viable tumour shrinks: 'pseudo? PD')."""
    assess(arm.scans, arm.scenario.sd_min_days)
    base = arm.scans[0]
    if scan.irecist == "iUPD" and scan.viable_mm < base.viable_mm:
        return "pseudo? PD"
    return scan.call


@solara.component
def LatticeView(model: Comparison):
    """The lattices, live, with a field toggle."""
    update_counter.get()
    field = solara.use_reactive("none")
    with solara.Column():
        if model.error:
            solara.Warning(f"{model.error} (showing the preset instead)")
        with solara.Row():
            solara.Markdown(f"**Day {model.day:.1f}** &nbsp; field overlay:")
            solara.ToggleButtonsSingle(value=field, values=FIELDS, dense=True)
        solara.FigureMatplotlib(lattice_figure(model, field.value), format="png")
        solara.Markdown("  \n".join(f"**{label}**: {arm.tissue.tumor_cells()} tumour cells, {len(arm.agents)} CAR-T "
                                     f"cells in the lesion" for label, arm in model.arms.items()))
        solara.Markdown("Tumour: orange (dark = more antigen), **violet = antigen-negative**; light blue: "
                        "normal tissue; tan: stroma; red: vessels; grey: debris. CAR-T: green effector, "
                        "blue memory, black exhausted.")


@solara.component
def CourseView(model: Comparison):
    """The time course of each arm, live."""
    update_counter.get()
    solara.FigureMatplotlib(course_figure(model), format="png")


def _select(label: str, values: list, value=FROM_PRESET) -> dict:
    return {"type": "Select", "label": label, "value": value, "values": [FROM_PRESET, *values]}


def model_params() -> dict:
    """The controls: a preset, overrides (default: keep the preset's value), a comparison, seed, speed."""
    routes, targets, products = list(tables.routes()), list(tables.targets()), list(tables.products())
    return {
        "preset": {"type": "Select", "label": "scenario preset", "value": "gastric-peritoneal-iv",
                   "values": ["default", *preset_files()]},
        "compare": {"type": "Select", "label": "compare side by side with", "value": "route:intraperitoneal",
                    "values": [NONE, *[f"route:{r}" for r in routes], *[f"target:{t}" for t in targets],
                               *[f"product:{p}" for p in products]]},
        "target": _select("target antigen", targets),
        "site": _select("lesion site", list(tables.sites())),
        "route": _select("delivery route", routes),
        "product": _select("CAR-T product", products),
        "dose": _select("dose (CAR-T cells)", [0.0, 3e7, 1e8, 2.5e8, 1e9, 3e9]),
        "antigen_negative_fraction": _select("antigen-negative share at start", [0.0, 0.05, 0.1, 0.2, 0.3, 0.5]),
        "suppression": _select("microenvironment suppression", [0.0, 0.25, 0.5, 0.75, 1.0]),
        "car_affinity": _select("CAR affinity K (lower = higher affinity)", [0.05, 0.15, 0.3, 1.0]),
        "lymphodepletion": _select("lymphodepletion", [True, False]),
        "debulking_fraction": _select("debulking surgery (share removed)", [0.0, 0.3, 0.5, 0.7]),
        "seed": {"type": "InputText", "label": "random seed", "value": "42"},
        "hours_per_step": Slider("hours per step", 6, 1, 24, 1),
    }


def make_page(model: Comparison | None = None):
    """The SolaraViz page (a fresh Comparison with the controls' defaults if none is given)."""
    params = model_params()
    if model is None:
        defaults = {k: v["value"] if isinstance(v, dict) else v.value for k, v in params.items()}
        model = Comparison(**defaults)
    return SolaraViz(model, components=[(LatticeView, 0), (CourseView, 0)], model_params=params,
                     name="cartsim: CAR-T against a solid tumour", play_interval=1)


page = make_page()
