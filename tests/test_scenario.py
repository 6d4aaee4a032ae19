"""CARTScenario: defaults, presets, TOML round trip, validation of every kind of bad value."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim import CARTScenario, ScenarioError, load_scenario
from sim.scenario import parse_overrides, preset_files

CONTRACT_NAMES = ["target", "site", "route", "dose", "width", "height", "days", "seed",
                  "antigen_negative_fraction", "suppression", "car_affinity", "lymphodepletion",
                  "debulking_fraction", "tumor_growth_rate"]


def test_contract_parameters_exist_with_units():
    specs = CARTScenario.specs()
    for name in CONTRACT_NAMES:
        kind, spec, default = specs[name]
        assert spec.unit and spec.meaning
    assert all(spec is not None for _, spec, _ in specs.values())


@pytest.mark.parametrize("name", sorted(preset_files()))
def test_presets_load(name):
    s = load_scenario(name)
    assert s.params() != CARTScenario().params() or name == "gastric-cldn18-iv"


def test_toml_round_trip(tmp_path):
    s = CARTScenario(dose=5e8, route="intratumoral", lymphodepletion=False, width=80)
    path = tmp_path / "s.toml"
    path.write_text(s.to_toml())
    assert load_scenario(path).params() == s.params()


def test_overrides_are_typed():
    assert parse_overrides(["dose=1e8", "width=120", "lymphodepletion=false", "route=intratumoral"]) == {
        "dose": 1e8, "width": 120, "lymphodepletion": False, "route": "intratumoral"}


@pytest.mark.parametrize("params, fragment", [
    ({"dose": -1.0}, "dose"),
    ({"antigen_negative_fraction": 1.5}, "antigen_negative_fraction"),
    ({"route": "teleport"}, "route"),
    ({"target": "NOPE"}, "target"),
    ({"site": "moon"}, "site"),
    ({"width": 3}, "width"),
    ({"width": 25, "height": 25}, "width/height"),  # valid range but the lesion is too small
    ({"suppression": -0.1}, "suppression"),
    ({"debulking_fraction": 2.0}, "debulking_fraction"),
    ({"days": -5}, "days"),
    ({"no_such_parameter": 1}, "no_such_parameter"),
])
def test_bad_values_name_the_parameter(params, fragment):
    with pytest.raises(ScenarioError) as err:
        CARTScenario(**params)
    assert fragment in str(err.value) and "\n" not in str(err.value)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_fractions_outside_unit_interval_rejected(x):
    if 0 <= x <= 1:
        assert CARTScenario(antigen_negative_fraction=x).antigen_negative_fraction == x
    else:
        with pytest.raises(ScenarioError):
            CARTScenario(antigen_negative_fraction=x)


@pytest.mark.parametrize("text", ["dose = [1, \nroute = ", "[params]\ndose = 1\n", "dose = 'many'\n"])
def test_bad_files(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError):
        load_scenario(path)


def test_unknown_preset():
    with pytest.raises(ScenarioError, match="no such preset"):
        load_scenario("no-such-scenario")


def test_docs_parameter_table_is_current():
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "model.md").read_text()
    assert CARTScenario.markdown_table() in text, "regenerate the table in docs/model.md (CARTScenario.markdown_table())"
