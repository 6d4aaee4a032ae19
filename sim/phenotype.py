"""CAR-T differentiation states (``sim.tcells``), in a module of their own so that the
figures (``sim.plots``, drawn in a helper process) name them without loading Mesa."""

from __future__ import annotations

from enum import IntEnum


class Phenotype(IntEnum):
    """CAR-T differentiation state."""

    EFFECTOR = 0   # kills and divides on antigen
    MEMORY = 1     # quiescent, tissue-resident, long-lived; re-activates to effector on antigen
    EXHAUSTED = 2  # no killing, no division, short-lived
