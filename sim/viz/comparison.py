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

FROM_PRESET = "(from preset)"
"""Choice meaning: keep the preset's value for this parameter."""
NONE = "(none)"


class Comparison(Model):
    """Arm A (the chosen scenario) and, if ``compare`` names a route or target, arm B.

    Args:
        preset: scenario preset name (``cartsim scenarios``) or "default".
        compare: ``"route:NAME"``, ``"target:NAME"`` or ``"product:NAME"`` for arm B, or "(none)".
        hours_per_step: simulated hours per step of the app (one drawn frame).
        **choices: parameter overrides; values equal to ``FROM_PRESET`` are ignored.

    ``scenario`` and ``rng`` are accepted and ignored: SolaraViz's Reset passes them, but
    the arms build their own CARTScenarios from the preset and the seed choice.
    """

    def __init__(self, preset: str = "default", compare: str = NONE, hours_per_step: int = 6,
                 scenario=None, rng=None, **choices):
        super().__init__()
        overrides = {k: v for k, v in choices.items() if v != FROM_PRESET}
        self.error = ""
        """A one-line complaint about the chosen values (the app then shows the preset instead)."""
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

    @property
    def day(self) -> float:
        """Days since infusion."""
        return next(iter(self.arms.values())).steps / 24

    def step(self) -> None:
        """Advance every arm by ``hours_per_step`` hours (until its horizon)."""
        for _ in range(self.hours_per_step):
            for arm in self.arms.values():
                if arm.running:
                    arm.step()
        self.running = any(arm.running for arm in self.arms.values())


def _label(scenario) -> str:
    """Short name of an arm: target / site / route (and the product when it is not the conventional one)."""
    product = "" if scenario.product == "second_generation" else f" / {scenario.product}"
    return f"{scenario.target} / {scenario.site} / {scenario.route}{product}"
