"""Scenario presets (``seeds/scenarios/NAME.toml``) and reading TOML data files.

Light on imports (no Mesa, no NumPy) so that ``cartsim scenarios`` starts fast.
A file that is not TOML (malformed, binary, not UTF-8) or cannot be read raises
:class:`~sim.errors.ScenarioError` with one line naming the file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from sim import tables
from sim.errors import ScenarioError


def preset_files() -> dict[str, Path]:
    """Named presets: ``seeds/scenarios/NAME.toml``."""
    folder = tables.seeds_dir() / "scenarios"
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def preset_description(path: Path) -> str:
    """The ``description`` line of a preset file."""
    return str(read_toml(path, "scenario file").get("description", ""))


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The TOML document at ``path``; ``what`` names the file in the error line ("sweep file")."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{what} {path}: malformed TOML ({err})") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{what} {path}: not a text file (TOML must be UTF-8)") from None
    except OSError as err:
        raise ScenarioError(f"{what} {path}: cannot be read ({err.strerror})") from None
