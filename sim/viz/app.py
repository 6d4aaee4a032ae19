"""cartsim in the browser: a Solara page for teaching.

    cartsim viz            # then open http://127.0.0.1:8765

Left: the run (day, Reset, play/pause, Step, jump to a day, run to the next scan,
hours per frame) and the scenario (a preset, what to change from it, a second
route or target to compare on the same seed, the seed). Main: the lattice of
each arm and the time course with the scans.

Every visitor (browser tab) has a run of their own: the model lives in the
page component's state (``solara.use_memo``), never at module level. A frame
(the time, the lattices, the course) is drawn into widgets made once per run
(:class:`Screen`) by setting their values, without re-rendering the page, so
playback is not slowed by Solara's reconciliation of every control. The page
uses no ``solara.Markdown``: its widget asks for KaTeX, which solara-assets
does not ship, so an offline classroom would see failed requests on every load.
"""

from __future__ import annotations

import threading
from functools import cache

import ipywidgets as widgets
import solara

from sim import tables
from sim.plots import lattice_key_text
from sim.scenario import preset_files
from sim.viz.comparison import FROM_PRESET, NONE, Comparison
from sim.viz.frames import (FIELD_SCALES, SHOWN_PIXELS_PER_SITE, CoursePlot, field_key_png, lattice_png,
                            scan_table_html)

TITLE = "cartsim: CAR-T against a solid tumour"
FIELDS = ["none", *FIELD_SCALES]
PLAY = "play"


def sci(x: float) -> str:
    """A number as the controls write it: 2.5e8, 1e9, 0."""
    return f"{x:.2g}".replace("e+0", "e").replace("e+", "e")


def day_text(hours: int) -> str:
    """The time shown on the page: 'Day 5 + 6 h'."""
    return f"Day {hours // 24} + {hours % 24} h"


@cache
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
        "car_affinity": ("CAR affinity K (lower = higher affinity)", keep(0.05, 0.15, 0.3, 0.5, 1.0)),
        "lymphodepletion": ("lymphodepletion", keep(True, False)),
        "debulking_fraction": ("debulking surgery (share removed)", keep(0.0, 0.3, 0.5, 0.7)),
        "first_scan_day": ("first follow-up scan (day)", keep(7, 14, 21, 28)),
        "scan_interval_days": ("then a scan every (days)", keep(14, 28, 56)),
    }


@cache
def default_choices() -> dict[str, str]:
    """The controls' starting values (and the seed); one object, never changed (a reactive's start value)."""
    return {name: values[0] for name, (_, values) in controls().items()} | {"seed": "42"}


class Screen:
    """The widgets one run draws into: the time, each arm's caption and lattice, the course.

    :meth:`draw` sets their values (a lock keeps the play thread and a click from
    drawing at once); the page lays them out once.
    """

    def __init__(self, model: Comparison, field: str = "none"):
        self.model = model
        self.plot = CoursePlot(model)
        self.day = widgets.HTML(layout=widgets.Layout(margin="0"))
        self.captions = [widgets.HTML() for _ in model.arms]
        width = f"{SHOWN_PIXELS_PER_SITE * next(iter(model.arms.values())).tissue.shape[0]}px"
        self.lattices = [widgets.Image(format="png", layout=widgets.Layout(width=width)) for _ in model.arms]
        for image in self.lattices:
            image.add_class("lattice")
        self.course = widgets.Image(format="png", layout=widgets.Layout(
            width=f"{self.plot.fig.get_figwidth() * self.plot.fig.dpi:.0f}px"))
        self.scans = widgets.HTML()
        self.field = field
        self.lock = threading.Lock()

    def draw(self, field: str | None = None) -> None:
        """Draw the run as it is now (``field``: change the overlay; None keeps it)."""
        with self.lock:
            self.field = field or self.field
            for arm in self.model.arms.values():
                arm.assess()
            for (label, arm), caption, image in zip(self.model.arms.items(), self.captions, self.lattices):
                s = arm.scenario
                caption.value = (f"<div style='font-size: 15px'><b>{label}</b> (dose {sci(s.dose)} cells)<br>"
                                 f"{arm.tissue.tumor_cells()} tumour cells, {len(arm.agents)} CAR-T cells in the "
                                 f"lesion</div>")
                image.value = lattice_png(arm, self.field)
            self.course.value = self.plot.render()
            table = scan_table_html(self.model)
            if table != self.scans.value:
                self.scans.value = table
            self.day.value = f"<b style='font-size: 22px'>{day_text(self.model.hours)}</b>"


@solara.component
def LatticePanel(screen: Screen, field: solara.Reactive[str]):
    """The field toggle, the lattices, the field's colour key and the colour legend.

    ``field`` is the page's overlay choice: it outlasts Reset, so a lesson can pick its overlay first."""
    def choose(value):
        field.value = value
        screen.draw(value)

    with solara.Column():
        with solara.Row():
            solara.Text("field overlay:")
            solara.ToggleButtonsSingle(value=field.value, values=FIELDS, dense=True, on_value=choose)
        with solara.Row():
            for caption, image in zip(screen.captions, screen.lattices):
                solara.Column(children=[caption, image], gap="4px")
        if field.value != "none":
            solara.Image(field_key_png(field.value))
        solara.Text(lattice_key_text())


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
def RunControls(screen: Screen, goal: solara.Reactive, hours_per_frame: solara.Reactive[int],
                milestone: solara.Reactive[tuple[int, bool]], on_reset, on_step):
    """The time, Reset, play/pause, Step, hours per frame, jump to a day, run to the next scan.

    Re-rendered only when ``goal`` or ``milestone`` change, not every frame.
    """
    model = screen.model
    jump_to = solara.use_reactive(28)
    busy, idle = goal.value is not None, goal.value is None and model.running
    milestone.value  # noqa: B018 (subscribe: a scan changes the next scan; the horizon disables the buttons)
    next_scan = model.next_scan_day()
    solara.Column(children=[screen.day])
    with solara.Row():
        solara.Button("Reset", color="primary", on_click=on_reset)
        solara.Button("❚❚ pause" if busy else "▶ play", color="primary", disabled=not model.running,
                      on_click=lambda: goal.set(None if busy else (PLAY,)))
        solara.Button("Step", color="primary", disabled=not idle, on_click=on_step)
    solara.SliderInt(f"hours per frame: {hours_per_frame.value}", value=hours_per_frame, min=1, max=24,
                     thumb_label=False)
    with solara.Row():
        solara.InputInt("day", value=jump_to)
        solara.Button("Jump to day", disabled=not idle,
                      on_click=lambda: goal.set(("day", min(jump_to.value, model.horizon))))
    solara.Button(f"Run to next scan (day {next_scan})" if next_scan is not None else "No scan left",
                  disabled=not idle or next_scan is None, on_click=lambda: goal.set(("day", next_scan)))


@solara.component
def Page():
    """One visitor's page: their own run (a Comparison built on Reset), its controls and its views."""
    solara.Title(TITLE)
    solara.Style(".lattice { image-rendering: pixelated; }")
    choices = solara.use_reactive(default_choices())
    applied = solara.use_reactive(default_choices())
    generation = solara.use_reactive(0)
    goal = solara.use_reactive(None)
    """What the runner does: None (idle), (PLAY,) or ("day", N)."""
    hours_per_frame = solara.use_reactive(6)
    milestone = solara.use_reactive((1, True))
    """Scans of arm A so far and whether the run goes on: what re-renders the run controls."""
    overlay = solara.use_reactive("none")
    screen = solara.use_memo(lambda: Screen(Comparison(**applied.value), overlay.value), [generation.value])
    model = screen.model

    def show():
        screen.draw()
        milestone.value = (len(next(iter(model.arms.values())).scans), model.running)

    solara.use_memo(show, [screen])

    def advance(hours: int) -> None:
        """Advance under the screen's lock, so a redraw (e.g. the field toggle) never reads a half-stepped model."""
        with screen.lock:
            model.advance(hours)

    def runner():
        order = goal.value
        if order is None:
            return
        while goal.value is order and model.running:
            if order[0] == PLAY:
                advance(hours_per_frame.value)
            else:  # jump in one-day chunks, so Reset or another order stops it
                target_h = round(order[1] * 24)
                while goal.value is order and model.running and model.hours < target_h:
                    advance(min(24, target_h - model.hours))
            if goal.value is not order:
                return  # cancelled (Reset or a new order): do not draw a discarded run
            show()
            if order[0] != PLAY:
                break
        if goal.value is order:
            goal.value = None

    solara.lab.use_task(runner, dependencies=[goal.value, screen], prefer_threaded=True)

    def reset():
        goal.value = None
        applied.value = choices.value
        generation.value += 1

    def step():
        advance(hours_per_frame.value)
        show()

    with solara.Sidebar():
        with solara.Card("Run"):
            RunControls(screen, goal, hours_per_frame, milestone, reset, step)
        with solara.Card("Scenario"):
            ScenarioControls(choices, applied.value, reset)
    if model.error:
        solara.Warning(f"{model.error} (showing the preset instead)")
    if model.note:
        solara.Info(model.note)
    LatticePanel(screen, overlay)
    solara.Column(children=[screen.course, screen.scans])
