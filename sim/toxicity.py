"""Systemic toxicity proxies: the cytokine index that stands for CRS, and its grade.

On-target, off-tumour killing is counted on the lattice (``Tissue.normal_killed``) and
judged severe by :func:`severe_off_tumour`; tumour-lysis burden is the model's
``max_daily_kill_fraction``.
"""

from __future__ import annotations

import numpy as np

from sim import tables

SEVERE_NORMAL_KILL = 0.2
"""Share of target-bearing normal cells killed that counts as severe on-target, off-tumour
toxicity (unless the target's ``normal_loss_tolerable``, e.g. B-cell aplasia for CD19)."""

CRS_THRESHOLDS = (1.0, 3.0, 6.0, 10.0)
"""Peak cytokine index at which the CRS grade proxy reaches 1, 2, 3, 4 (ASTCT-like scale)."""


class SystemicCytokine:
    """Systemic cytokine index (CRS proxy), dimensionless.

    Produced in proportion to the share of the patient's tumour burden killed per
    day (``cytokine_per_kill``: the index a kill rate of 1/day would sustain per
    day of half-life), decaying with ``cytokine_half_life_days``; ``peak`` keeps
    the maximum.
    """

    def __init__(self, scenario):
        self.scenario = scenario
        self.level = 0.0
        self.peak = 0.0

    def step(self, burden_killed_per_day: float, dt_h: float) -> None:
        """Advance ``dt_h`` hours with the given kill rate (exact for a constant rate)."""
        s = self.scenario
        rate = np.log(2) / s.cytokine_half_life_days
        keep = np.exp(-rate * dt_h / 24)
        self.level = self.level * keep + s.cytokine_per_kill * burden_killed_per_day * (1 - keep) / rate
        self.peak = max(self.peak, self.level)


def crs_grade(peak_cytokine: float) -> int:
    """CRS grade proxy 0-4 from the peak systemic cytokine index."""
    return int(np.searchsorted(CRS_THRESHOLDS, peak_cytokine, side="right"))


def severe_off_tumour(normal_killed_fraction, target: str):
    """Severe on-target, off-tumour toxicity: at least ``SEVERE_NORMAL_KILL`` of the normal
    target-bearing cells killed, for a target whose normal loss is not tolerable
    (``normal_loss_tolerable`` in seeds/targets.toml). Works on a number or an array."""
    tolerable = bool(tables.targets()[target].get("normal_loss_tolerable", False))
    return (np.asarray(normal_killed_fraction) >= SEVERE_NORMAL_KILL) & (not tolerable)
