"""CARTScenario: a Mesa ``Scenario`` holding one value for every parameter, validated.

A scenario is plain data. It is built from the defaults (``sim.parameters``, where
every parameter is declared with its type, unit, meaning and range), a preset in
``seeds/scenarios/`` or any TOML file with flat ``name = value`` lines, and
``--set name=value`` overrides. ``validate`` checks every value against its
:class:`~sim.parameters.Spec`; a bad value raises :class:`ScenarioError` whose
message is one line naming the parameter, the value and what is allowed.
"""

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from mesa.experimental.scenarios import Scenario

from sim import tables
from sim.errors import ScenarioError
from sim.parameters import Parameters, min_side, side_allowed, within
from sim.presets import preset_files, read_toml


class CARTScenario(Parameters, Scenario):
    """The parameter values of one cartsim run (defaults: a gastric CLDN18.2 lesion, IV).

    Every parameter is an attribute, declared with its unit, meaning and range in
    :class:`~sim.parameters.Parameters`; ``CARTScenario.describe()`` lists them.
    A changed attribute is validated at once; a refused change keeps the old value.
    """

    def __init__(self, *, rng=None, **params: Any):
        """Build a scenario from defaults and ``params`` (validated; unknown names refused).

        ``rng`` (as Mesa passes it, e.g. from ``mesa.batch_run``) is the seed: a whole
        number, recorded as ``seed``; giving both with different values is refused.
        """
        unknown = sorted(set(params) - set(self.parameter_names()))
        if unknown:
            raise ScenarioError(f"unknown parameter '{unknown[0]}'; `cartsim scenarios --parameters` lists them")
        if rng is not None:
            seed = coerce("seed", rng)
            if "seed" in params and coerce("seed", params["seed"]) != seed:
                raise ScenarioError(f"parameter seed: rng {rng!r} and seed {params['seed']!r} differ; give one of them")
            params["seed"] = seed
        values = {**self._scenario_defaults, **params}
        for name, value in values.items():
            values[name] = coerce(name, value)
        super().__init__(rng=values["seed"], **values)
        self.validate()

    def __setattr__(self, name: str, value: Any) -> None:
        """A parameter changed after construction is coerced and validated (the old value kept
        if the new one is refused); ``rng`` is an alias of ``seed``; other public names are refused."""
        if name in ("model", "_scenario_id"):
            super().__setattr__(name, value)
            return
        if name == "rng":
            name = "seed"
        if name not in self._scenario_defaults:
            raise ScenarioError(f"unknown parameter '{name}'; `cartsim scenarios --parameters` lists them")
        value = coerce(name, value)
        old = self.__dict__[name]
        super().__setattr__(name, value)  # Mesa refuses changes while a model runs
        try:
            self.validate()
        except ScenarioError:
            self.__dict__[name] = old
            raise
        if name == "seed":
            self.__dict__["rng"] = value

    @property
    def share_left_by_surgery(self) -> float:
        """Share of the lesion and of the tumour burden left after debulking (0..1): 1 - ``debulking_fraction``.
        Derived, not a parameter: set ``debulking_fraction``."""
        return 1 - self.debulking_fraction

    def params(self) -> dict[str, Any]:
        """The parameter values of this scenario (no Mesa bookkeeping)."""
        return {name: getattr(self, name) for name in self.parameter_names()}

    def replace(self, **changes: Any) -> "CARTScenario":
        """A new scenario with ``changes`` applied (validated)."""
        return CARTScenario(**{**self.params(), **changes})

    def validate(self) -> None:
        """Check every value against its Spec and the cross-parameter rules."""
        sides = ("width", "height")  # checked last: their floor depends on lesion_fraction and site
        for name, (kind, spec, _) in self.specs().items():
            value = getattr(self, name)
            if name not in sides and not within(value, kind, spec):
                raise ScenarioError(f"parameter {name}: value {value!r} is not allowed; allowed: {spec.allowed(kind)}")
        for name in sides:
            kind, spec, _ = self.specs()[name]
            value = getattr(self, name)
            if not within(value, kind, spec) or value < min_side(self.lesion_fraction, self.site):
                raise ScenarioError(f"parameter {name}: value {value!r} is not allowed; "
                                    f"allowed: {side_allowed(self.lesion_fraction, self.site)}")
        route = tables.routes()[self.route]
        if route["systemic_share"] + max(route["local_share"].values(), default=0) > 1:
            raise ScenarioError(f"route {self.route}: systemic_share + local_share exceed 1 in seeds/routes.toml")
        last_infusion = (self.infusions - 1) * self.reinfusion_interval_days
        if last_infusion >= self.days:
            raise ScenarioError(
                f"parameter infusions: {self.infusions} infusions every {self.reinfusion_interval_days} days need day "
                f"{last_infusion} but the run ends on day {self.days}; allowed: (infusions - 1) x reinfusion_interval_days < days")

    def to_toml(self) -> str:
        """The scenario as a flat TOML document (round-trips through load_scenario)."""
        lines = []
        for name, value in self.params().items():
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, str):
                text = f'"{value}"'
            else:
                text = repr(value)
            lines.append(f"{name} = {text}")
        return "\n".join(lines) + "\n"

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def coerce(name: str, value: Any) -> Any:
    """Turn a TOML, ``--set`` or NumPy value into the parameter's type, or raise ScenarioError.

    Whole numbers given as text are parsed exactly (seeds up to 2**63-1 keep every digit);
    NumPy scalars (``np.int64``, ``np.float64``, ``np.bool_``) count as their Python values.
    """
    kind, spec, _ = CARTScenario.specs()[name]
    problem = ScenarioError(f"parameter {name}: value {value!r} is not allowed; allowed: {CARTScenario.allowed(name)}")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str) and kind is not str:
        text = value.strip().lower()
        if kind is bool:
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise problem
        try:
            value = int(text) if kind is int and text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            raise problem from None
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise problem
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
            raise problem
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise problem
        return float(value)
    if not isinstance(value, str):
        raise problem
    return value


def parse_overrides(items: Iterable[str], flag: str = "--set") -> dict[str, Any]:
    """``["dose=1e8", "route=intratumoral"]`` -> ``{"dose": 1e8, ...}`` (names checked, values coerced).

    ``flag`` names the command-line option in messages (``--set``, ``--control``).
    """
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        shown = item if item.isprintable() else repr(item)  # a line break in the value must not break the line
        if not sep:
            raise ScenarioError(f"{flag} {shown}: expected name=value, e.g. {flag} dose=2.5e8")
        if name not in CARTScenario.parameter_names():
            raise ScenarioError(f"{flag} {shown}: unknown parameter {name!r}; `cartsim scenarios --parameters` lists them")
        out[name] = coerce(name, value)
    return out


def load_scenario(source: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> CARTScenario:
    """A scenario from a preset name, a TOML file path, or the defaults (``None``).

    A file holds flat ``name = value`` lines (and an optional ``description``);
    ``overrides`` are applied last. Raises ScenarioError with a one-line message.
    """
    values: dict[str, Any] = {}
    if source is not None:
        presets = preset_files()
        path = presets.get(str(source)) if str(source) in presets else Path(source)
        if str(source) != "default" or path.suffix == ".toml":
            if path.suffix != ".toml" or not path.exists():
                names = ", ".join(["default", *presets])
                raise ScenarioError(f"scenario '{source}': no such preset or .toml file; presets: {names}")
            values = read_toml(path, "scenario file")
            values.pop("description", None)
            for name, value in values.items():
                if isinstance(value, dict):
                    raise ScenarioError(f"scenario file {path}: [{name}] tables are not allowed; use flat name = value lines")
    values.update(overrides or {})
    return CARTScenario(**values)
