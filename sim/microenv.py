"""Diffusible fields of the tumour microenvironment, solved with array stencils.

Three fields on the lattice (Mesa PropertyLayers, float32, relative units):

* ``suppression`` (TGF-beta-like): secreted by tumour cells and stroma; its local
  value times the scenario's ``suppression`` is the fractional loss of CAR-T
  killing and proliferation, and it speeds exhaustion (see ``sim.tcells``).
* ``chemokine`` (CXCL9/10-like attractant): secreted by tumour cells and by
  inflamed tissue; CAR-T cells climb its gradient.
* ``inflammation`` (IFN-gamma, cytokines, edema): released where a CAR-T cell
  kills; it reads as lesion on imaging above ``edema_threshold``.

Each step: diffusion over ``dt`` is the exact heat kernel, a Gaussian blur of
width sqrt(2 D dt) (``scipy.ndimage.gaussian_filter``; the lattice edge drains),
followed by exact first-order decay towards the secretion level. A source of
strength 1 everywhere gives a steady field of 1, so field values read as "share
of full suppression" directly.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


SITE_UM = 15.0
"""Lattice spacing: one site is one cell, 15 um (DESIGN.md)."""

_ANGLE_TO_MOORE = np.array([6, 7, 4, 2, 1, 0, 3, 5], dtype=np.int8)
"""Moore index of the neighbour in octant k of the gradient angle (k*45 deg from +x)."""


class Fields:
    """Suppression, chemokine and inflammation fields and the chemotactic direction.

    Args:
        grid: the Mesa grid the fields are created on.
        scenario: half-lives (``*_half_life_h``) and ``diffusion_um2_per_s``.
    """

    def __init__(self, grid, scenario):
        self.scenario = scenario
        for name in ("suppression", "chemokine", "inflammation"):
            setattr(self, name, grid.create_property_layer(name, 0.0, np.float32).data)
        self.uphill = np.full(grid.dimensions, -1, dtype=np.int8)
        """Moore index of the neighbour up the chemokine gradient (-1: flat)."""

    def update(self, tissue, dt_h: float) -> None:
        """Advance all fields by ``dt_h`` hours and refresh the chemotactic direction."""
        s = self.scenario
        tumor = tissue.tumor.astype(np.float32)
        inflamed = np.minimum(self.inflammation, 1.0)
        self._advance(self.suppression, np.maximum(tumor, tissue.stroma), s.suppression_half_life_h, dt_h)
        self._advance(self.chemokine, np.maximum(tumor, inflamed), s.chemokine_half_life_h, dt_h)
        self._advance(self.inflammation, None, s.inflammation_half_life_h, dt_h)
        self._point_uphill()

    def _advance(self, field: np.ndarray, source: np.ndarray | None, half_life_h: float, dt_h: float) -> None:
        sigma = np.sqrt(2 * self.scenario.diffusion_um2_per_s * dt_h * 3600) / SITE_UM
        field[:] = ndimage.gaussian_filter(field, sigma, mode="constant", truncate=3.0)
        keep = np.float32(np.exp(-np.log(2) * dt_h / half_life_h))
        field *= keep
        if source is not None:
            field += (1 - keep) * source

    def _point_uphill(self) -> None:
        gx, gy = np.gradient(self.chemokine)
        octant = np.rint(np.arctan2(gy, gx) / (np.pi / 4)).astype(np.int8) % 8
        self.uphill[:] = np.where(np.hypot(gx, gy) > 1e-4, _ANGLE_TO_MOORE[octant], -1)

    def release_inflammation(self, x: int, y: int, amount: float = 1.0) -> None:
        """Cytokine burst where a CAR-T cell kills (drives edema and chemokine)."""
        self.inflammation[x, y] += amount
