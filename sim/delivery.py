"""Delivery routes: where, when and how many CAR-T cells enter the lattice.

A route (``seeds/routes.toml``) sends, over ``window_h`` hours after ``delay_h``
hours, ``systemic_share`` of the dose into blood and ``local_share[site]`` into the
lesion's region (peritoneal cavity, liver on first pass, CSF, injection site); the
rest is lost to other tissue. Both are pools (:class:`sim.tcells.CARTPool`) that expand
and contract. Regional cells enter the lesion at the route's ``entry_per_day`` and
its entry geometry: ``vessels`` (hepatic arterial), ``surface`` (the site's
cavity- or CSF-facing edge: intraperitoneal, intrapleural, intraventricular) or
``core`` (intratumoral). Blood cells enter through vessels at the site's
``homing_per_day``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt

from sim import tables

CELLS_PER_CM3 = 1e9
"""Tumour cells per cm3 of tumour (DESIGN.md, scale)."""


def cells_to_agents(cells: float, lattice_tumor_cells: float, reference_tumor_cells: float) -> float:
    """Expected CAR-T agents on the lattice for ``cells`` clinical CAR-T cells.

    The lattice is a representative cross-section of tumour tissue, one site per
    cell. Cells spread over ``reference_tumor_cells`` tumour cells (the patient's
    burden, or one injected lesion) reach the lattice in proportion to the tumour
    cells it holds::

        agents = cells [CAR-T cells] x lattice_tumor_cells [cells] / reference_tumor_cells [cells]

    e.g. 2.5e8 cells entering tumour over time, 50 cm3 of burden (5e10 cells) and
    2,000 tumour cells on the lattice: 2.5e8 x 2e3 / 5e10 = 10 agents. Each agent is
    one real cell; expansion in blood or the region multiplies the cells that
    enter, and local division multiplies the agents.
    """
    return cells * lattice_tumor_cells / reference_tumor_cells


@dataclass(frozen=True)
class Route:
    """One route's data for one lesion site (see the module docstring)."""

    name: str
    entry: str
    reaches: str
    delay_h: float
    window_h: float
    systemic_share: float
    local_share: float
    entry_per_day: float
    antigen_exposure: float

    @classmethod
    def for_site(cls, route: str, site: str) -> Route:
        """The route's row of ``seeds/routes.toml`` with the local share for ``site``."""
        row = tables.routes()[route]
        return cls(route, row["entry"], row["reaches"], float(row["delay_h"]), float(row["window_h"]),
                   float(row["systemic_share"]), float(row["local_share"].get(site, 0.0)),
                   float(row["entry_per_day"]), float(row["antigen_exposure"]))


def lesion_cells(diameter_mm: float) -> float:
    """Tumour cells in a spherical lesion of the given diameter (1e9 cells/cm3)."""
    return np.pi / 6 * (diameter_mm / 10) ** 3 * CELLS_PER_CM3


class Delivery:
    """The infusion plan of one run: local arrivals, blood input and entry sites.

    Args:
        scenario: ``dose``, ``route``, ``site``, ``tumor_burden_cm3``,
            ``lesion_diameter_mm`` and ``debulking_fraction``.
        tissue: the seeded (and debulked) tissue, for the lattice scale and entry sites.
    """

    def __init__(self, scenario, tissue):
        s = scenario
        self.route = Route.for_site(s.route, s.site)
        remaining = s.share_left_by_surgery
        self.burden_cells = s.tumor_burden_cm3 * CELLS_PER_CM3 * remaining
        self.lesion_cells = min(lesion_cells(s.lesion_diameter_mm) * remaining, self.burden_cells)
        self.lattice_tumor_cells = max(tissue.tumor_cells(), 1)
        self.regional_reference = self.lesion_cells if self.route.reaches == "lesion" else self.burden_cells
        self.local_cells = s.dose * self.route.local_share
        self.systemic_cells = s.dose * self.route.systemic_share
        self.lost_cells = s.dose - self.local_cells - self.systemic_cells
        self.burden_share = self.lesion_cells / self.burden_cells if self.route.reaches == "lesion" else 1.0
        """Share of the patient's burden that the lattice stands for (cytokine scaling)."""
        self.entry_sites = {"vessels": self._vessel_sites(tissue), "surface": self._surface_sites(tissue),
                            "core": self._core_sites(tissue)}

    def homing_agents(self, homed_cells: float) -> float:
        """Expected agents entering the lattice when ``homed_cells`` blood cells home into the burden."""
        return cells_to_agents(homed_cells, self.lattice_tumor_cells, self.burden_cells)

    def regional_agents(self, entered_cells: float) -> float:
        """Expected agents entering the lattice when ``entered_cells`` regional cells enter tumour."""
        return cells_to_agents(entered_cells, self.lattice_tumor_cells, self.regional_reference)

    def in_window(self, hour: float, dt_h: float) -> float:
        """Share of the route's local and systemic cells released in [hour, hour + dt_h)."""
        start, end = self.route.delay_h, self.route.delay_h + self.route.window_h
        return max(0.0, min(hour + dt_h, end) - max(hour, start)) / (end - start)

    @staticmethod
    def _vessel_sites(tissue) -> np.ndarray:
        """Vessels in and around the tumour present at infusion; without any, the sites of that
        region beyond 0.9 radii of the lesion's centre (the lesion's rim and surroundings).

        The region is within 1.5 radii of the lesion's centre and within 0.6 radii of a
        tumour cell. For a whole lesion the first bound implies the second (0.6 rather than
        0.5 radii allows for the discretised rim, so its sites are the same); after debulking
        the second drops the resection cavity beyond 0.6 radii of the tumour left, so cells
        arriving by vessels (from blood, or by the hepatic artery) arrive around that tumour.
        """
        x, y = np.indices(tissue.shape)
        from_centre = np.hypot(x - tissue.center[0], y - tissue.center[1])
        near = (from_centre < 1.5 * tissue.radius) & (distance_transform_edt(~tissue.tumor) < 0.6 * tissue.radius)
        sites = np.argwhere(tissue.vessel & near)
        if len(sites) == 0:
            sites = np.argwhere(near & (from_centre >= 0.9 * tissue.radius))
        return sites

    @staticmethod
    def _surface_sites(tissue) -> np.ndarray:
        """The two rows of the lattice edge that face the cavity or CSF (top edge)."""
        surface = np.zeros(tissue.shape, bool)
        surface[:, -2:] = True
        return np.argwhere(surface)

    @staticmethod
    def _core_sites(tissue) -> np.ndarray:
        """Sites within a third of the lesion radius from its centre (injection track)."""
        x, y = np.indices(tissue.shape)
        return np.argwhere(np.hypot(x - tissue.center[0], y - tissue.center[1]) < max(2.0, tissue.radius / 3))
