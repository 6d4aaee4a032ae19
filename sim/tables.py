"""The data tables in ``seeds/``: targets, lesion sites and delivery routes.

Each table is a TOML file whose top-level keys are names (``CLDN18.2``,
``stomach``, ``intravenous``) and whose values hold that entry's numbers; the
comments in the files give units and sources. The model reads targets, sites and
routes only through these tables, so they differ by data, never by code.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path


def seeds_dir() -> Path:
    """Folder of the installed data tables and scenario presets."""
    return Path(str(resources.files("sim.seeds")))


@cache
def _table(name: str) -> dict[str, dict]:
    with open(seeds_dir() / f"{name}.toml", "rb") as f:
        return tomllib.load(f)


def targets() -> dict[str, dict]:
    """Target antigens: expression on tumour and normal tissue, clinical reference."""
    return _table("targets")


def sites() -> dict[str, dict]:
    """Lesion sites: stroma, vessels, normal tissue, homing from blood."""
    return _table("sites")


def routes() -> dict[str, dict]:
    """Delivery routes: entry geometry, timing, systemic and per-site local shares."""
    return _table("routes")


def normal_expression(target: str, site: str) -> float:
    """Target density on the normal tissue of ``site``'s organ (0 where the organ lacks it)."""
    return float(targets()[target]["normal_expression"].get(site, 0.0))


def normal_carrier_share(target: str, site: str) -> float:
    """Share of the normal cells of ``site``'s organ that carry the target (1 where the target's
    ``normal_carrier_share`` does not list the organ: every normal cell of it)."""
    return float(targets()[target].get("normal_carrier_share", {}).get(site, 1.0))


def products() -> dict[str, dict]:
    """CAR-T product designs: expansion, persistence and resistance to suppression."""
    return _table("products")
