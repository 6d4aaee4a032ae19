"""Warnings for biologically odd (but runnable) scenarios; none for the presets."""

import pytest

from sim import CARTScenario, load_scenario
from sim.cli import main
from sim.plausibility import concerns
from sim.scenario import preset_files


@pytest.mark.parametrize("name", sorted(preset_files()))
def test_presets_are_plausible(name):
    assert concerns(load_scenario(name)) == []


def test_target_not_found_at_the_site():
    [line] = concerns(CARTScenario(target="CD19", site="stomach"))
    assert "CD19" in line and "stomach" in line and "bone_marrow" in line


def test_route_without_access_to_the_site():
    [line] = concerns(CARTScenario(target="GPC3", site="liver", route="intraventricular"))
    assert "intraventricular" in line and "liver" in line and "local_share 0" in line
    assert concerns(CARTScenario(target="GPC3", site="liver", route="intravenous")) == []


def test_cli_warns_and_runs(tmp_path, capsys):
    args = ["run", "--set", "target=CD19", "--set", "width=40", "--set", "height=40", "--days", "1",
            "--out", str(tmp_path / "o"), "--json"]
    assert main(args) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("cartsim: warning: target CD19")
    assert (tmp_path / "o" / "summary.json").exists()
