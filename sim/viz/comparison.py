"""The model the browser app steps: one scenario, optionally run side by side with a
second route (or target, or CAR-T product) on the same seed.

The teaching point of cartsim is that the route and the target decide the
outcome; two CAR-T models built from the same scenario and seed differ only in
that one choice, so their lattices start identical.
"""

from __future__ import annotations

from mesa import Model

from sim.model import CARTModel
from sim.scenario import ScenarioError, load_scenario
from sim.schedule import scan_days

FROM_PRESET = "(from preset)"
"""Choice meaning: keep the preset's value for this parameter."""
NONE = "(none)"


class Comparison(Model):
    """Arm A (the chosen scenario) and, if ``compare`` names a route or target, arm B.

    Args:
        preset: scenario preset name (``cartsim scenarios``) or "default".
        compare: ``"route:NAME"``, ``"target:NAME"`` or ``"product:NAME"`` for arm B, or "(none)".
        hours_per_step: simulated hours per :meth:`step` (one drawn frame of the app).
        **choices: parameter overrides (as ``--set`` takes them); values equal to ``FROM_PRESET``
            are ignored.

    ``scenario`` and ``rng`` are accepted and ignored (Mesa's SolaraViz Reset passes them):
    the arms build their own CARTScenarios from the preset and the seed choice.
    """

    def __init__(self, preset: str = "default", compare: str = NONE, hours_per_step: int = 6,
                 scenario=None, rng=None, **choices):
        super().__init__()
        overrides = {k: v for k, v in choices.items() if v != FROM_PRESET}
        self.error = ""
        """A one-line complaint about the chosen values (the app then shows the preset instead)."""
        self.note = ""
        """Why arm B is not shown although a comparison was asked for ('' otherwise)."""
        source = None if preset == "default" else preset
        try:
            base = load_scenario(source, overrides)
        except ScenarioError as err:
            self.error = str(err)
            base = load_scenario(source)
        self.hours_per_step = int(hours_per_step)
        self.arms: dict[str, CARTModel] = {_label(base): CARTModel(base)}
        if compare != NONE:
            kind, _, name = compare.partition(":")
            other = base.replace(**{kind: name})
            if other.params() != base.params():
                self.arms[_label(other)] = CARTModel(other)
            else:
                self.note = f"arm B would be arm A: the scenario already uses {kind} {name}; one arm shown"

    @property
    def hours(self) -> int:
        """Hours since infusion (model steps of arm A)."""
        return next(iter(self.arms.values())).steps

    @property
    def day(self) -> float:
        """Days since infusion."""
        return self.hours / 24

    @property
    def horizon(self) -> int:
        """Last day of the run (the longest arm)."""
        return max(arm.scenario.days for arm in self.arms.values())

    def next_scan_day(self) -> int | None:
        """The first scan day of arm A after the current time (None after the last scan)."""
        later = [d for d in scan_days(next(iter(self.arms.values())).scenario) if d * 24 > self.hours]
        return later[0] if later else None

    def advance(self, hours: int) -> None:
        """Advance every arm by ``hours`` hours (each until its horizon)."""
        for _ in range(hours):
            for arm in self.arms.values():
                if arm.running:
                    arm.step()
        self.running = any(arm.running for arm in self.arms.values())

    def step(self) -> None:
        """Advance every arm by ``hours_per_step`` hours."""
        self.advance(self.hours_per_step)

    def run_to_day(self, day: float) -> None:
        """Advance to ``day`` (or the horizon, if sooner); nothing if already there."""
        self.advance(max(0, round(day * 24) - self.hours))


def _label(scenario) -> str:
    """Short name of an arm: target / site / route (and the product when it is not the conventional one)."""
    product = "" if scenario.product == "second_generation" else f" / {scenario.product}"
    return f"{scenario.target} / {scenario.site} / {scenario.route}{product}"
