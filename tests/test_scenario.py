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
    ({"width": 25, "height": 25}, "width"),  # within the Spec's range but the lesion is too small
    ({"suppression": -0.1}, "suppression"),
    ({"debulking_fraction": 2.0}, "debulking_fraction"),
    ({"days": -5}, "days"),
    ({"no_such_parameter": 1}, "no_such_parameter"),
])
def test_bad_values_name_the_parameter(params, fragment):
    with pytest.raises(ScenarioError) as err:
        CARTScenario(**params)
    assert fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("params, bound", [
    ({"width": 10}, ">= 40"), ({"height": 30}, ">= 40"), ({"width": "40.5"}, ">= 40"),
    ({"width": 20, "lesion_fraction": 0.8}, ">= 25"), ({"width": 5000}, "<= 4000"),
])
def test_a_lattice_side_states_the_bound_that_holds(params, bound):
    """The side's floor is what the lesion needs at that lesion_fraction and site, never the Spec's 20,
    and a value at that floor is accepted."""
    with pytest.raises(ScenarioError) as err:
        CARTScenario(**params)
    assert bound in str(err.value) and ">= 20" not in str(err.value)
    floor = int(str(err.value).split(">= ")[1].split()[0])
    CARTScenario(**{**params, "width": floor, "height": floor})


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


# --- scenario objects that cannot be invalid -------------------------------------------

def test_changed_parameter_is_validated_and_the_old_value_kept():
    s = CARTScenario()
    with pytest.raises(ScenarioError, match="width"):
        s.width = 5
    with pytest.raises(ScenarioError, match="route"):
        s.route = "teleport"
    with pytest.raises(ScenarioError, match="unknown parameter 'dosee'"):
        s.dosee = 1
    assert (s.width, s.route) == (100, "intravenous")
    s.dose = "5e8"
    assert s.dose == 5e8


def test_seed_and_rng_agree():
    assert CARTScenario(rng=7).seed == 7 and CARTScenario(rng=7).rng == 7
    s = CARTScenario()
    s.seed = 9
    assert s.rng == 9
    with pytest.raises(ScenarioError, match="rng"):
        CARTScenario(rng=7, seed=8)
    with pytest.raises(ScenarioError, match="seed"):
        CARTScenario(rng=1.7)


def test_numpy_scalars_are_accepted():
    import numpy as np

    s = CARTScenario(width=np.int64(60), height=np.int32(60), dose=np.float64(1e8), lymphodepletion=np.bool_(False),
                     seed=np.uint64(3))
    assert (s.width, s.dose, s.lymphodepletion, s.seed) == (60, 1e8, False, 3)
    assert type(s.width) is int and type(s.dose) is float


@pytest.mark.parametrize("seed", [2**53 + 1, 2**63 - 1])
def test_large_seeds_are_exact(seed):
    assert parse_overrides([f"seed={seed}"]) == {"seed": seed}
    assert CARTScenario(seed=seed).seed == seed
    with pytest.raises(ScenarioError, match="9223372036854775807"):
        CARTScenario(**parse_overrides([f"seed={2**63}"]))


def test_parameter_list_states_the_real_lattice_minimum():
    width = next(line for line in CARTScenario.describe() if line.startswith("width"))
    assert ">= 40" in width
    CARTScenario(width=40, height=40)
    with pytest.raises(ScenarioError):
        CARTScenario(width=39)


def test_binary_and_non_utf8_files(tmp_path):
    for name, data in {"bin.toml": b"\xff\xfe\x00\x01", "latin.toml": 'dose = "\xe9"\n'.encode("latin-1")}.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ScenarioError, match="UTF-8"):
            load_scenario(path)


NUMERIC = [name for name, (kind, _, _) in CARTScenario.specs().items() if kind in (int, float)]


@given(st.sampled_from(NUMERIC), st.one_of(st.integers(min_value=-2**70, max_value=2**70),
                                           st.floats(allow_nan=True, allow_infinity=True)))
def test_any_number_is_accepted_within_bounds_or_refused_in_one_line(name, value):
    kind, spec, _ = CARTScenario.specs()[name]
    try:
        s = CARTScenario(**{name: value})
    except ScenarioError as err:
        assert "\n" not in str(err)
        return
    got = getattr(s, name)
    assert type(got) is kind and got == value
    assert spec.low is None or got >= spec.low
    assert spec.high is None or got <= spec.high


@given(st.sampled_from(CARTScenario.parameter_names()), st.text(max_size=30))
def test_any_set_text_is_parsed_or_refused_in_one_line(name, text):
    try:
        parse_overrides([f"{name}={text}"])
    except ScenarioError as err:
        assert "\n" not in str(err)


def test_scenario_survives_pickle_and_copy():
    import copy
    import pickle

    s = CARTScenario(dose=1e8, seed=5)
    for twin in (pickle.loads(pickle.dumps(s)), copy.deepcopy(s)):
        assert twin.params() == s.params() and twin.rng == 5
        with pytest.raises(ScenarioError):
            twin.width = 5
