"""cartsim in the browser: a Solara page for teaching.

    cartsim viz            # then open http://127.0.0.1:8765

Left: the run (day, Reset, play/pause, Step, jump to a day, run to the next scan,
hours per frame) and the scenario (a preset, what to change from it, a second
route or target to compare on the same seed, the seed). Main: the lattice of
each arm and the time course with the scans.

Every visitor (browser tab) has a run of their own: the model lives in the
page component's state (``solara.use_memo``), never at module level. The page
uses no ``solara.Markdown``: its widget asks for KaTeX, which solara-assets
does not ship, so an offline classroom would see failed requests on every load.
"""

from __future__ import annotations

import numpy as np
import solara
from matplotlib.figure import Figure

from sim import tables
from sim.imaging import assess
from sim.plots import CALL_COLOURS, NEGATIVE_COLOUR, draw_lattice
from sim.scenario import preset_files
from sim.schedule import is_scan_day
from sim.viz.comparison import FROM_PRESET, NONE, Comparison

TITLE = "cartsim: CAR-T against a solid tumour"
FIELDS = ["none", "suppression", "chemokine", "inflammation"]
ARM_STYLES = ["-", "--"]
PLAY = "play"


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


def day_text(hours: int) -> str:
    """The time shown on the page: 'Day 5 + 6 h'."""
    return f"Day {hours // 24} + {hours % 24} h"


def controls() -> dict[str, tuple[str, list[str]]]:
    """The scenario controls: name -> (label, choices); the first choice is the default.

    Numbers are written as ``--set`` takes them (dose in scientific notation: 1e9).
    """
    routes, targets, products = list(tables.routes()), list(tables.targets()), list(tables.products())

    def keep(*values) -> list[str]:
        return [FROM_PRESET, *map(str, values)]

    return {
        "preset": ("scenario preset", ["gastric-peritoneal-iv", "default", *preset_files()]),
        "compare": ("compare side by side with", ["route:intraperitoneal", NONE, *[f"route:{r}" for r in routes],
                                                  *[f"target:{t}" for t in targets],
                                                  *[f"product:{p}" for p in products]]),
        "target": ("target antigen", keep(*targets)),
        "site": ("lesion site", keep(*tables.sites())),
        "route": ("delivery route", keep(*routes)),
        "product": ("CAR-T product", keep(*products)),
        "dose": ("dose (CAR-T cells)", keep("0", "3e7", "1e8", "2.5e8", "1e9", "3e9")),
        "antigen_negative_fraction": ("antigen-negative share at start", keep(0.0, 0.05, 0.1, 0.2, 0.3, 0.5)),
        "suppression": ("microenvironment suppression", keep(0.0, 0.25, 0.5, 0.75, 1.0)),
        "car_affinity": ("CAR affinity K (lower = higher affinity)", keep(0.05, 0.15, 0.3, 1.0)),
        "lymphodepletion": ("lymphodepletion", keep(True, False)),
        "debulking_fraction": ("debulking surgery (share removed)", keep(0.0, 0.3, 0.5, 0.7)),
    }


def default_choices() -> dict[str, str]:
    """The controls' starting values (and the seed)."""
    return {name: values[0] for name, (_, values) in controls().items()} | {"seed": "42"}


@solara.component
def LatticeView(model: Comparison, frame: int):
    """The lattices of the arms, with a field toggle."""
    field = solara.use_reactive("none")
    with solara.Column():
        with solara.Row():
            solara.Text("field overlay:")
            solara.ToggleButtonsSingle(value=field, values=FIELDS, dense=True)
        solara.FigureMatplotlib(lattice_figure(model, field.value), format="png")
        for label, arm in model.arms.items():
            solara.Text(f"{label}: {arm.tissue.tumor_cells()} tumour cells, {len(arm.agents)} CAR-T cells in the lesion")
        solara.Text("Tumour: orange (dark = more antigen), violet = antigen-negative; light blue: normal tissue; "
                    "tan: stroma; red: vessels; grey: debris. CAR-T: green effector, blue memory, black exhausted.")


@solara.component
def CourseView(model: Comparison, frame: int):
    """The time course of each arm."""
    solara.FigureMatplotlib(course_figure(model), format="png")


@solara.component
def ScenarioControls(choices: solara.Reactive[dict], applied: dict, on_reset):
    """Preset, overrides, comparison and seed; a changed control marks the run stale until Reset."""
    def set_choice(name, value):
        choices.value = {**choices.value, name: value}

    if choices.value != applied:
        solara.Warning("Changed since the run started: press Reset to apply.")
        solara.Button("Reset with these values", color="warning", on_click=on_reset)
    for name, (label, values) in controls().items():
        solara.Select(label, value=choices.value[name], values=values,
                      on_value=lambda value, name=name: set_choice(name, value))
    solara.InputText("random seed", value=choices.value["seed"], on_value=lambda value: set_choice("seed", value))


@solara.component
def Page():
    """One visitor's page: their own run (a Comparison built on Reset), its controls and its views."""
    solara.Title(TITLE)
    choices = solara.use_reactive(default_choices())
    applied = solara.use_reactive(choices.value)
    generation = solara.use_reactive(0)
    hours_per_frame = solara.use_reactive(6)
    frame = solara.use_reactive(0)
    goal = solara.use_reactive(None)
    """What the runner does: None (idle), (PLAY,) or ("day", N)."""
    model = solara.use_memo(lambda: Comparison(**applied.value), [generation.value])
    model.hours_per_step = hours_per_frame.value

    def runner():
        order = goal.value
        if order is None:
            return
        while goal.value is order and model.running:
            if order[0] == PLAY:
                model.step()
            else:
                model.run_to_day(order[1])
            frame.value += 1
            if order[0] != PLAY:
                break
        if goal.value is order:
            goal.value = None

    solara.lab.use_task(runner, dependencies=[goal.value, model], prefer_threaded=True)

    def reset():
        goal.value = None
        applied.value = choices.value
        generation.value += 1
        frame.value = 0

    def step():
        model.step()
        frame.value += 1

    busy = goal.value is not None
    next_scan = model.next_scan_day()
    with solara.Sidebar():
        with solara.Card("Run"):
            solara.Text(day_text(model.hours), style={"font-size": "20px", "font-weight": "bold"})
            with solara.Row():
                solara.Button("Reset", color="primary", on_click=reset)
                solara.Button("❚❚ pause" if busy else "▶ play", color="primary", disabled=not model.running,
                              on_click=lambda: goal.set(None if busy else (PLAY,)))
                solara.Button("Step", color="primary", disabled=busy or not model.running, on_click=step)
            solara.SliderInt("hours per frame", value=hours_per_frame, min=1, max=24, thumb_label="always")
            jump_to = solara.use_reactive(28)
            with solara.Row():
                solara.InputInt("day", value=jump_to)
                solara.Button("Jump to day", disabled=busy or not model.running,
                              on_click=lambda: goal.set(("day", min(jump_to.value, model.horizon))))
            solara.Button(f"Run to next scan (day {next_scan})" if next_scan is not None else "No scan left",
                          disabled=busy or next_scan is None, on_click=lambda: goal.set(("day", next_scan)))
        with solara.Card("Scenario"):
            ScenarioControls(choices, applied.value, reset)
    if model.error:
        solara.Warning(f"{model.error} (showing the preset instead)")
    if model.note:
        solara.Info(model.note)
    with solara.Columns([1, 1]):
        LatticeView(model, frame.value)
        CourseView(model, frame.value)
