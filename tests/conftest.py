"""Shared fixtures: small, fast scenarios (60x60 lattice), cached runs, and the experiment scripts as modules."""

import importlib.util
import sys
from functools import cache
from pathlib import Path

import pytest

from sim import run

SMALL = {"width": 60, "height": 60}


@cache
def cached_run(**params):
    """Run once per distinct parameter set within the test session."""
    return run(**{**SMALL, **params})


EXPERIMENTS = Path(__file__).parents[1] / "experiments"


@cache
def experiment_module(name: str):
    """experiments/NAME.py as a module (its folder on sys.path, for the scripts' ``common``)."""
    if str(EXPERIMENTS) not in sys.path:
        sys.path.append(str(EXPERIMENTS))
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def small():
    return dict(SMALL)
