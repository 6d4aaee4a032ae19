"""Shared fixtures: small, fast scenarios (60x60 lattice) and cached runs."""

from functools import cache

import pytest

from sim import run

SMALL = {"width": 60, "height": 60}


@cache
def cached_run(**params):
    """Run once per distinct parameter set within the test session."""
    return run(**{**SMALL, **params})


@pytest.fixture
def small():
    return dict(SMALL)
