"""cartsim: agent-based simulation (Mesa) of CAR-T cell therapy against solid tumours.

    from sim import CARTScenario, load_scenario, run
    result = run(load_scenario("gastric-cldn18-iv"), dose=5e8)
    result.summary["best_response"], result.timeseries
"""

from sim.model import CARTModel, Result, run
from sim.scenario import CARTScenario, ScenarioError, load_scenario

__all__ = ["CARTModel", "CARTScenario", "Result", "ScenarioError", "load_scenario", "run"]
