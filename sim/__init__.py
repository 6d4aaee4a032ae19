"""cartsim: agent-based simulation (Mesa) of CAR-T cell therapy against solid tumours.

    from sim import CARTScenario, load_scenario, run
    result = run(load_scenario("gastric-cldn18-iv"), dose=5e8)
    result.summary["best_response"], result.timeseries

The names below are imported on first use (module ``__getattr__``), so that
``import sim.cli`` does not pay for Mesa, pandas and SciPy before it needs them.
"""

from importlib import import_module

_HOME = {
    "CARTModel": "sim.model", "Result": "sim.model", "run": "sim.model",
    "CARTScenario": "sim.scenario", "load_scenario": "sim.scenario",
    "ScenarioError": "sim.errors",
    "run_trial": "sim.trial", "run_sweep": "sim.sweep",
}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
