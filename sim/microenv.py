"""The tumour microenvironment: diffusible fields and slow suppressive states, as arrays.

Three diffusible fields on the lattice (Mesa PropertyLayers, float32, relative units):

* ``suppression`` (TGF-beta-like): secreted by tumour cells and stroma; it lifts
  within hours where tumour cells die.
* ``chemokine`` (CXCL9/10-like attractant): secreted by tumour cells and by
  inflamed tissue; CAR-T cells climb its gradient.
* ``inflammation`` (IFN-gamma, cytokines): released where a CAR-T cell kills.

Diffusion over ``dt`` is the exact heat kernel, a Gaussian blur of width
sqrt(2 D dt) (``scipy.ndimage.gaussian_filter``'s kernel cut at 3 widths; the lattice edge
drains), followed by exact first-order decay towards the secretion level. The blur is
applied as two products with a banded matrix per axis (B_x F B_y: the same linear map as
``gaussian_filter(mode="constant")``, equal to float32 rounding, and several times faster
on BLAS, kept to one BLAS thread so that parallel runs do not compete for cores). A source of
strength 1 everywhere gives a steady field of 1, so field values read as "share
of full effect" directly.

Three slow states of the tissue that outlast the killing (:func:`relax`: they rise
towards a level set by their signal with one time constant and fall with another).
The signal of the first two is the IFN-gamma response to inflammation F,
F / (F + ``ifn_half_saturation``); edema has a half-saturation of its own:

* ``pdl1``: adaptive resistance, PD-L1 induced on tumour and stroma by IFN-gamma
  within hours (``pdl1_induction_h``), lost over days (``pdl1_half_life_days``);
* ``myeloid``: suppressive myeloid and regulatory cells recruited by stroma and
  inflammation over days (``myeloid_recruitment_days``) that stay a week or more
  after the tumour cells are gone (``myeloid_half_life_days``). They come from a
  circulating pool that the whole tumour raises, so surgery that removes a share of
  the burden (``debulking_fraction``) lowers the level they are recruited to by that
  share (:attr:`Fields.myeloid_supply`);
* ``edema``: the inflammatory swelling a scan reads as lesion. Its level is
  F / (F + ``edema_half_saturation``): vascular leak needs far more cytokine than
  PD-L1 induction, so tissue swells only where killing is dense, not wherever a
  trace of IFN-gamma has diffused. It builds over about half a day of sustained
  inflammation (``EDEMA_RISE_H``) and resolves with ``edema_half_life_days`` (5 days: about
  two weeks to fall below the scan's threshold).

Besides the recruited ``myeloid`` state, some organs hold suppressive cells of their own in
and around any lesion (the site's ``resident_myeloid``: Kupffer cells in the liver, microglia
in the brain, regulatory T cells and myeloid suppressors in marrow). They are there in every
patient, whatever the lesion's stroma, so their brake is not scaled by the patient's
suppressiveness. In the liver and brain they are the organ's and stay; in dispersed marrow
disease the disease itself raises them and they fall with it (:attr:`Fields.resident`).

From these, two arrays the CAR-T cells read: ``inhibition``, the share of killing
and proliferation lost at a site, and ``hindrance``, the share of moves and entries
lost there (see :meth:`Fields.update`).
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import ThreadpoolController

from sim import tables

SITE_UM = 15.0
"""Lattice spacing: one site is one cell, 15 um (DESIGN.md)."""

EDEMA_RISE_H = 12.0
"""Time constant (h) over which inflammatory swelling builds: sustained inflammation swells tissue,
a single kill's brief burst does not (and the reading does not depend on ``field_update_h``)."""

_BLAS = ThreadpoolController()
"""Limits BLAS to one thread during diffusion (threadpoolctl: scikit-learn's tool for it)."""

_STEP_TO_MOORE = np.array([0, 1, 2, 3, -1, 4, 5, 6, 7], dtype=np.int8)
"""Moore index (``sim.tissue.MOORE_OFFSETS``) of the step (sx, sy) in {-1, 0, 1}^2, at 3 (sx + 1) + sy + 1."""
_TAN_22_5 = np.float32(np.sqrt(2) - 1)
"""A gradient points along an axis when its other component is at most this share of it (octant edge)."""
_FLAT = np.float32(1e-8)
"""Squared gradient (per site) at or below which the chemokine field counts as flat."""


def _difference(line: np.ndarray, i: int) -> np.float32:
    """Derivative of a float32 profile at index i as ``np.gradient`` takes it: central difference
    inside, one-sided difference at either end."""
    if i == 0:
        return line[1] - line[0]
    if i == len(line) - 1:
        return line[i] - line[i - 1]
    return (line[i + 1] - line[i - 1]) / np.float32(2)


def relax(state: np.ndarray, level: np.ndarray, rise_h: float, fall_half_life_h: float, dt_h: float) -> None:
    """Move ``state`` towards ``level`` in place over ``dt_h`` hours, exactly for a constant level:
    up with time constant ``rise_h``, down with half-life ``fall_half_life_h``."""
    up = np.float32(-np.expm1(-dt_h / rise_h))
    down = np.float32(-np.expm1(-np.log(2) * dt_h / fall_half_life_h))
    state += (level - state) * np.where(level > state, up, down)


def circulating_myeloid(scenario, stroma_share: float, burden_cells: float) -> float:
    """Circulating suppressive myeloid cells (monocytic MDSCs) the tumour has raised, as a level M >= 0.

    Stroma-rich tumours recruit suppressive myeloid cells into blood in proportion to their
    mass; these slow CAR-T proliferation in blood and in regional pools, which expand at
    rho / (1 + M) (``sim.tcells.CARTPool``), so a large tumour stimulates expansion more but
    also damps it, and the peak per unit burden falls as burden grows (REFERENCE.md: peak
    CAR-T per unit burden higher in durable responders, Locke et al. 2020; circulating
    monocytic MDSCs with low expansion, Jain et al. 2021). Debulking removes part of it::

        M = suppression x stroma_share x burden (cm3) / ``myeloid_expansion_burden_cm3``

    with ``stroma_share`` the lesion's mean stroma density (:attr:`sim.tissue.Tissue.stroma_share`;
    0 for marrow disease) and the burden left after debulking. Fixed at infusion: the expansion
    it acts on is over within days, while myeloid cells outlast tumour death.
    """
    cm3 = burden_cells / 1e9
    return scenario.suppression * stroma_share * cm3 / scenario.myeloid_expansion_burden_cm3


class Fields:
    """Diffusible fields, slow suppressive states, and what CAR-T cells read from them.

    Args:
        grid: the Mesa grid the fields are created on.
        scenario: half-lives and time constants (see the module docstring),
            ``diffusion_um2_per_s``, ``suppression``, ``adaptive_resistance``,
            ``myeloid_suppression``, ``myeloid_block`` and the ``product``.
    """

    def __init__(self, grid, scenario):
        self.scenario = scenario
        for name in ("suppression", "chemokine", "inflammation", "pdl1", "myeloid", "edema"):
            setattr(self, name, grid.create_property_layer(name, 0.0, np.float32).data)
        self.inhibition = np.zeros(grid.dimensions, np.float32)
        """Share of CAR-T killing and proliferation lost at each site (0..1)."""
        self.hindrance = np.zeros(grid.dimensions, np.float32)
        """Share of CAR-T moves and entries lost at each site (0..1)."""
        self.inhibition_view, self.hindrance_view = memoryview(self.inhibition), memoryview(self.hindrance)
        """The same two arrays indexed by (x, y) as Python floats, for a T cell's read of its site
        (both arrays are only ever updated in place)."""
        self.tgfb_resistance = tables.products()[scenario.product]["tgfb_resistance"]
        self.myeloid_supply = scenario.share_left_by_surgery
        """Circulating suppressive myeloid cells available to the lesion, relative to the untreated patient's.

        The tumour raises them in proportion to its mass (:func:`circulating_myeloid`); once surgery
        has removed a share f of it, they fall to 1 - f of their level, and so does the level the
        lesion's myeloid cells are recruited to (tumour-bearing mice: resecting the primary tumour
        lowers MDSCs and lets immunity reject the metastases left, Sinha et al., J Immunol 2005).
        Infusion is taken to follow recovery from surgery: the stress of the operation itself
        raises MDSCs for up to two weeks (Tang et al., Ann Surg Oncol 2021).
        """
        site = tables.sites()[scenario.site]
        self.resident_myeloid = float(site["resident_myeloid"])
        """The organ's resident suppressive cells at the untreated lesion, 0..1 (``seeds/sites.toml``)."""
        self.resident_follows_disease = bool(site["dispersed"])
        """True in dispersed marrow disease, whose blasts raise the resident cells (:attr:`resident`)."""
        self.resident = np.full(1, self.resident_myeloid)
        """Current level R of the organ's resident suppressive cells, 0..1.

        Constant at ``resident_myeloid`` where they are the organ's own (Kupffer cells, microglia).
        In dispersed marrow disease the blasts raise them: polymorphonuclear MDSCs and regulatory
        T cells rise with the marrow's blasts in B-ALL and fall towards healthy levels in remission
        (Salem et al., Sci Rep 2021); MDSCs rise with myeloma's burden (Gorgun et al., Blood 2013).
        There R relaxes towards ``resident_myeloid`` x (tumour cells now / before treatment), at
        most 1, with the recruited myeloid state's time constants (``myeloid_recruitment_days``
        up, ``myeloid_half_life_days`` down).
        """
        self._untreated_tumour_cells = 1
        self._blurs: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        self._blurred = np.zeros(grid.dimensions, np.float32)
        """Diffusion's matrices per interval and its buffer between the two axes (kept between updates)."""

    def settle(self, tissue) -> None:
        """Start the slow states at their pre-treatment level: myeloid cells recruited by stroma,
        the organ's resident cells at ``resident_myeloid``."""
        self.myeloid[:] = np.minimum(tissue.stroma, 1) * self.myeloid_supply
        self._untreated_tumour_cells = max(1, tissue.tumor_cells())
        self.resident[:] = self.resident_myeloid

    def update(self, tissue, dt_h: float) -> None:
        """Advance all fields and states by ``dt_h`` hours; refresh direction, inhibition and hindrance.

        PD-L1 (on tumour and stroma) relaxes towards the IFN-gamma response
        F / (F + ``ifn_half_saturation``), myeloid cells towards min(1, stroma + that
        response) x :attr:`myeloid_supply`, edema towards F / (F + ``edema_half_saturation``).
        Inhibition combines the lesion's three brakes (each a share of function lost) with the
        organ's resident suppressive cells R (:attr:`resident`)::

            inhibition = 1 - (1 - suppression x (1 - (1 - (1 - r) tgfb) (1 - m_s myeloid) (1 - a_r pdl1))) (1 - m_s R)

        with ``suppression`` the patient's suppressiveness, r the product's
        ``tgfb_resistance`` (a TGF-beta dominant-negative receptor ignores the field),
        m_s = ``myeloid_suppression`` and a_r = ``adaptive_resistance``. Hindrance is
        1 - (1 - b x ``suppression`` x myeloid) (1 - b R), b = ``myeloid_block``.
        """
        with _BLAS.limit(limits=1, user_api="blas"):
            self._update(tissue, dt_h)

    def _update(self, tissue, dt_h: float) -> None:
        s = self.scenario
        tumor = tissue.tumor.astype(np.float32)
        self._advance(self.inflammation, None, s.inflammation_half_life_h, dt_h)
        inflamed = np.minimum(self.inflammation, 1.0)  # after diffusion: kills in the interval have spread
        signal = self.inflammation / (self.inflammation + np.float32(s.ifn_half_saturation))
        self._advance(self.suppression, np.maximum(tumor, tissue.stroma), s.suppression_half_life_h, dt_h)
        self._advance(self.chemokine, np.maximum(tumor, inflamed), s.chemokine_half_life_h, dt_h)
        relax(self.pdl1, signal * (tissue.tumor | (tissue.stroma > 0)), s.pdl1_induction_h,
              24 * s.pdl1_half_life_days, dt_h)
        recruited_to = np.minimum(tissue.stroma + signal, 1)
        recruited_to *= self.myeloid_supply
        relax(self.myeloid, recruited_to, 24 * s.myeloid_recruitment_days, 24 * s.myeloid_half_life_days, dt_h)
        swelling = self.inflammation / (self.inflammation + np.float32(s.edema_half_saturation))
        relax(self.edema, swelling, EDEMA_RISE_H, 24 * s.edema_half_life_days, dt_h)
        free = ((1 - (1 - self.tgfb_resistance) * self.suppression) * (1 - s.myeloid_suppression * self.myeloid)
                * (1 - s.adaptive_resistance * self.pdl1))
        np.multiply(1 - free, s.suppression, out=self.inhibition)
        np.multiply(self.myeloid, s.myeloid_block * s.suppression, out=self.hindrance)
        if self.resident_follows_disease:
            burden = tissue.tumor_cells() / self._untreated_tumour_cells
            relax(self.resident, min(1.0, self.resident_myeloid * burden), 24 * s.myeloid_recruitment_days,
                  24 * s.myeloid_half_life_days, dt_h)
        resident = float(self.resident[0])
        if resident > 0:
            resident_free = np.float32(1 - s.myeloid_suppression * resident)
            np.subtract(1, (1 - self.inhibition) * resident_free, out=self.inhibition)
            resident_unhindered = np.float32(1 - s.myeloid_block * resident)
            np.subtract(1, (1 - self.hindrance) * resident_unhindered, out=self.hindrance)

    def _advance(self, field: np.ndarray, source: np.ndarray | None, half_life_h: float, dt_h: float) -> None:
        along_x, along_y = self._heat_kernel(dt_h)
        np.matmul(along_x, field, out=self._blurred)
        np.matmul(self._blurred, along_y, out=field)
        keep = np.float32(np.exp(-np.log(2) * dt_h / half_life_h))
        field *= keep
        if source is not None:
            field += (1 - keep) * source

    def _heat_kernel(self, dt_h: float) -> tuple[np.ndarray, np.ndarray]:
        """The diffusion blur over ``dt_h`` hours as one symmetric banded matrix per lattice axis.

        Row i holds the 1-D Gaussian weights of width sqrt(2 D dt) centred on site i, cut at
        3 widths and normalised over the cut window, as ``scipy.ndimage.gaussian_filter``
        computes them; weights beyond the lattice edge are dropped (the edge drains).
        Computed once per ``dt_h``.
        """
        if dt_h not in self._blurs:
            sigma = np.sqrt(2 * self.scenario.diffusion_um2_per_s * dt_h * 3600) / SITE_UM
            radius = int(3.0 * float(sigma) + 0.5)
            phi = np.exp(-0.5 / (sigma * sigma) * np.arange(radius + 1) ** 2)
            phi /= 2 * phi.sum() - phi[0]

            def band(n: int) -> np.ndarray:
                distance = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
                return np.where(distance <= radius, phi[np.minimum(distance, radius)], 0).astype(np.float32)

            self._blurs[dt_h] = (band(self._blurred.shape[0]), band(self._blurred.shape[1]))
        return self._blurs[dt_h]

    def uphill(self, x: int, y: int) -> int:
        """Moore index (``sim.tissue.MOORE_OFFSETS``) of the neighbour of (x, y) nearest in angle to
        the chemokine gradient, or -1 where the gradient is below 1e-4 per site.

        The gradient is ``np.gradient``'s at that site (central differences inside, one-sided at
        the lattice edge), in the field's float32. A component counts when it exceeds tan(22.5 deg)
        times the other: the step (sx, sy) is the octant of the gradient's angle, found without
        computing the angle. Computed for the site a walking cell asks about, not for the whole
        lattice: a tenth of a few CAR-T cells' moves read it (``chemotaxis_bias``).
        """
        gx, gy = _difference(self.chemokine[:, y], x), _difference(self.chemokine[x], y)
        if gx * gx + gy * gy <= _FLAT:
            return -1
        ax, ay = abs(gx), abs(gy)
        sx = int(gx > 0) - int(gx < 0) if ax > _TAN_22_5 * ay else 0
        sy = int(gy > 0) - int(gy < 0) if ay > _TAN_22_5 * ax else 0
        return int(_STEP_TO_MOORE[4 + 3 * sx + sy])

    def release_inflammation(self, x: int, y: int, amount: float = 1.0) -> None:
        """Cytokine burst where a CAR-T cell kills (drives PD-L1, myeloid recruitment, edema, chemokine)."""
        self.inflammation[x, y] += amount
