"""Resource guard: lattices that do not fit in memory and absurd counts stop at once with one line."""

import pytest

from sim import guard
from sim.cli import main
from sim.guard import ResourceError


def test_memory_estimate_matches_the_benchmark():
    assert 1.3 < guard.run_bytes(1000, 1000) / 2**30 < 1.6  # measured peak 1.41 GiB (benchmarks/results.json)


def test_lattice_too_large_for_the_machine(monkeypatch):
    monkeypatch.setattr(guard, "available_bytes", lambda: 8 * 2**30)
    guard.check_memory(1000, 1000)
    with pytest.raises(ResourceError, match="width/height: lattice 4000x4000 needs about 22.6 GiB") as err:
        guard.check_memory(4000, 4000)
    assert "\n" not in str(err.value)
    with pytest.raises(ResourceError, match="runs at once"):
        guard.check_memory(1000, 1000, concurrent=8)


def test_model_refuses_a_lattice_beyond_memory(monkeypatch):
    from sim import CARTModel

    monkeypatch.setattr(guard, "available_bytes", lambda: 2**30)
    with pytest.raises(ResourceError):
        CARTModel(width=1000, height=1000)


@pytest.mark.parametrize("args, fragment", [
    (["trial", "gastric-cldn18-iv", "--patients", "1000000000"], "--patients 1000000000: allowed"),
    (["trial", "gastric-cldn18-iv", "--patients", "0"], "--patients 0: allowed"),
    (["trial", "gastric-cldn18-iv", "--patients", "2", "--workers", "100000"], "--workers 100000: allowed"),
    (["trial", "gastric-cldn18-iv", "--patients", "2", "--seed", "-1"], "--seed -1: allowed"),
    (["run", "--set", "width=4000", "--set", "height=4000"], "lattice 4000x4000 needs"),
])
def test_cli_refuses_absurd_jobs(tmp_path, capsys, monkeypatch, args, fragment):
    monkeypatch.setattr(guard, "available_bytes", lambda: 16 * 2**30)
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_sweep_refuses_a_huge_design_before_building_it(tmp_path):
    from sim.sweep import SweepError, load_sweep

    path = tmp_path / "huge.toml"
    path.write_text('base = "gastric-cldn18-iv"\nreplicates = 1000000000\n')
    with pytest.raises(SweepError, match="replicates = 1000000000"):
        load_sweep(path)
    grid = ", ".join(str(i) for i in range(1, 2001))
    path.write_text(f'base = "gastric-cldn18-iv"\n[grid]\ndose = [{grid}]\ntumor_burden_cm3 = [{grid}]\n')
    with pytest.raises(SweepError, match="4,000,000 runs; allowed: at most"):
        load_sweep(path)
