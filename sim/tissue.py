"""Tumour and normal tissue as lattice state, updated with array operations.

One lattice site holds at most one tissue cell: a tumour cell or a normal cell
(never both). Per site the lattice stores (Mesa PropertyLayers on the grid):

=================  =======  ===========================================================
layer              dtype    meaning
=================  =======  ===========================================================
``tumor``          bool     a viable tumour cell
``normal``         bool     a normal cell of the organ (may carry the target)
``antigen``        float32  current target density on the cell (relative; 1 = IHC 3+)
``antigen_setpoint`` float32 heritable density the cell returns to after down-regulation
``lineage``        int8     tumour lineage: 1 positive founder, 2 negative founder, 3 acquired loss
``debris``         float32  dead-cell debris (1 = a freshly killed cell), cleared over days
``damage``         float32  lethal hits a living cell has received from CAR-T cells, repaired over hours
``repair``         float32  granulation/scar tissue filling a killed or resected site (1 = fresh), remodelled over months
``stroma``         float32  extracellular-matrix density 0..1 (capsule, septa)
``vessel``         bool     a vessel: entry point for blood-borne cells, holds no tissue cell
=================  =======  ===========================================================

The rules here (growth, spontaneous loss, antigen recovery, repair of hits,
debris clearance, tissue repair, debulking) touch whole arrays; only
:meth:`Tissue.hit` and :meth:`Tissue.kill` work on one site, called by a T cell.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from sim import tables

POSITIVE_FOUNDER, NEGATIVE_FOUNDER, ACQUIRED_LOSS = 1, 2, 3
NEGATIVE_BELOW = 0.1
"""Antigen set point below which a tumour cell counts as antigen-negative (IHC 0)."""

MOORE_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
"""Offsets (dx, dy) of the 8 Moore neighbours, the order used by every neighbour table (Mesa's
``OrthogonalMooreGrid`` order: the keys of a cell's ``connections``)."""
MOORE = np.array(MOORE_OFFSETS)
"""The same offsets as an (8, 2) array."""


def sites(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (xs, ys) of the True sites of a 2D mask in row-major order, as ``np.nonzero``
    gives them (about four times faster on a lattice: the flat indices, split)."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """A standardised Gaussian random field with correlation length ``sigma`` sites."""
    z = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (z - z.mean()) / (z.std() + 1e-12)


class Tissue:
    """Lattice state of tumour and normal tissue, seeded from a scenario.

    Args:
        grid: the model's Mesa grid; the layers are created on it.
        scenario: a CARTScenario (target, site, lesion size, heterogeneity, growth).
        rng: the model's numpy Generator.
    """

    def __init__(self, grid, scenario, rng: np.random.Generator):
        self.scenario = scenario
        self.rng = rng
        self.shape = (scenario.width, scenario.height)
        layers = {
            "tumor": (False, bool), "normal": (False, bool), "antigen": (0.0, np.float32),
            "antigen_setpoint": (0.0, np.float32), "lineage": (0, np.int8), "debris": (0.0, np.float32),
            "damage": (0.0, np.float32), "repair": (0.0, np.float32), "stroma": (0.0, np.float32),
            "vessel": (False, bool),
        }
        for name, (default, dtype) in layers.items():
            setattr(self, name, grid.create_property_layer(name, default, dtype).data)
        self.antigen_view = memoryview(self.antigen)
        """The ``antigen`` layer indexed by (x, y) as Python floats, for a T cell's reads and writes of
        one site (a third of the cost of a NumPy scalar; a float32 product written here is rounded once,
        as NumPy rounds it)."""
        self.site = tables.sites()[scenario.site]
        self.target = tables.targets()[scenario.target]
        self.tumor_killed = 0
        self.normal_killed = 0
        self._padded = np.zeros((self.shape[0] + 2, self.shape[1] + 2), bool)
        self._rows = np.zeros((self.shape[0], self.shape[1] + 2), bool)
        self._rim = np.zeros(self.shape, bool)
        """Buffers of :meth:`grow` (free sites with a False border; a free site in the same column
        within one row; tumour cells with a free neighbour)."""
        self._seed_lesion()

    # --- seeding ---------------------------------------------------------------------
    def _seed_lesion(self) -> None:
        """Lay out lesion, capsule, septa, vessels, normal tissue and antigen patches.

        The lesion is a disk of diameter ``lesion_fraction`` x lattice side, centred, or
        against the cavity/CSF edge for sites with a ``surface_edge``. Dispersed marrow
        disease has no lesion: the disk's number of tumour cells is scattered over the
        whole section among normal marrow cells. Site data set
        stroma (times ``stroma_scale``), vessels and tumour density; target data set
        the antigen (times ``antigen_density_scale``) and which normal cells carry it: the
        organ's ``normal_expression`` on a ``normal_carrier_share`` of its normal cells (B cells,
        about a tenth of marrow cells, for CD19; every normal cell where no share is listed).
        """
        s, site, rng = self.scenario, self.site, self.rng
        w, h = self.shape
        self.radius = s.lesion_fraction * min(w, h) / 2
        capsule = max(2.0, 0.1 * self.radius)
        cx = (w - 1) / 2
        cy = h - 1 - self.radius - capsule - 2 if site["surface_edge"] == "top" else (h - 1) / 2
        self.center = (cx, max(cy, (h - 1) / 2))
        x, y = np.indices(self.shape)
        r = np.hypot(x - self.center[0], y - self.center[1])
        inside = r < self.radius

        self.vessel[:] = rng.random(self.shape) < site["vessel_density"]
        self.stroma[:] = np.where((r >= self.radius) & (r < self.radius + capsule), site["capsule_stroma"], 0.0)
        ridges = np.clip(1 - np.abs(smooth_field(rng, self.shape, max(2.0, self.radius / 4))) / 0.25, 0, 1)
        self.stroma[inside] = (site["septa_stroma"] * ridges)[inside]
        np.minimum(self.stroma * np.float32(s.stroma_scale), 1, out=self.stroma)
        self.stroma_share = float(self.stroma[r < self.radius + capsule].mean())
        """Mean stroma density of the lesion with its capsule at seeding (0 for dispersed marrow disease)."""

        if site["dispersed"]:  # marrow disease: as many blasts as the disk would hold, scattered among normal marrow
            share = site["tumor_density"] * np.count_nonzero(inside) / inside.size
            self.tumor[:] = ~self.vessel & (rng.random(self.shape) < share)
            self.normal[:] = ~self.vessel & ~self.tumor & (rng.random(self.shape) < site["normal_density"])
        else:
            self.tumor[:] = inside & ~self.vessel & (rng.random(self.shape) < site["tumor_density"])
            self.normal[:] = (r >= self.radius + capsule) & ~self.vessel & (rng.random(self.shape) < site["normal_density"])

        t = self.target
        patch = smooth_field(rng, self.shape, t["patch_sites"])
        level = smooth_field(rng, self.shape, t["patch_sites"])
        noise = rng.standard_normal(self.shape)
        density = s.antigen_density_scale * t["density_mean"] * np.exp(t["density_sigma"] * (0.8 * level + 0.6 * noise))
        negative = np.zeros(self.shape, bool)
        if s.antigen_negative_fraction > 0:
            cut = np.quantile(patch[self.tumor], s.antigen_negative_fraction)
            negative = self.tumor & (patch <= cut)
        self.antigen_setpoint[:] = np.where(self.tumor & ~negative, density, 0.0)
        self.lineage[:] = np.where(self.tumor, np.where(negative, NEGATIVE_FOUNDER, POSITIVE_FOUNDER), 0)
        normal_level = tables.normal_expression(s.target, s.site) * np.exp(0.2 * noise)
        carriers = self.normal
        share = tables.normal_carrier_share(s.target, s.site)
        if share < 1:  # one lineage of the organ's cells carries it (B cells among marrow cells); no draw otherwise
            carriers = self.normal & (rng.random(self.shape) < share)
        self.antigen_setpoint[carriers] = normal_level[carriers]
        self.antigen[:] = self.antigen_setpoint

    def debulk(self, fraction: float) -> int:
        """Surgical debulking: remove ``fraction`` of the tumour cells as one slab.

        The resection plane has a random orientation; tumour cells beyond it go (no
        debris) and so does the lesion's stroma there, the suppressive tissue the seed
        says surgery improves. The cavity fills with granulation tissue (``repair``),
        so it is not free for regrowth for weeks to months. Controlled by ``debulking_fraction``.
        Returns the number of cells removed.
        """
        xs, ys = np.nonzero(self.tumor)
        if fraction <= 0 or xs.size == 0:
            return 0
        angle = self.rng.uniform(0, 2 * np.pi)
        x, y = np.indices(self.shape)
        along = (x - self.center[0]) * np.cos(angle) + (y - self.center[1]) * np.sin(angle)
        plane = np.quantile(along[xs, ys], 1 - fraction)
        cut = self.tumor & (along > plane)
        removed = int(np.count_nonzero(cut))
        self._clear_tumour(cut, debris=False)
        beyond = (along > plane) & (np.hypot(x - self.center[0], y - self.center[1]) <= self.radius)
        self.stroma[beyond] = 0
        self.repair[beyond] = 1
        return removed

    # --- per-step rules ----------------------------------------------------------------
    def free(self) -> np.ndarray:
        """Sites a tumour cell can divide into: no tumour cell, no vessel, little debris,
        no fresh granulation or scar tissue (``repair`` below one half).

        Normal cells do not stop the tumour: a daughter displaces them (invasion).
        """
        return ~(self.tumor | self.vessel) & (self.debris < 0.5) & (self.repair < 0.5)

    def grow(self, dt_h: float) -> int:
        """Tumour growth at the rim with contact inhibition (``tumor_growth_rate``, 1/day).

        Only tumour cells with a free Moore neighbour divide, each with probability
        1 - exp(-r dt) into one of its free neighbours chosen at random; two parents
        aiming at one site: one wins. The daughter inherits the parent's antigen times
        lognormal noise (``antigen_daughter_sigma``) and loses it heritably with
        probability ``antigen_loss_probability``. Returns the number of divisions.
        """
        s = self.scenario
        p_divide = 1 - np.exp(-s.tumor_growth_rate * dt_h / 24)
        if p_divide <= 0:
            return 0
        w, h = self.shape
        padded, rows, rim = self._padded, self._rows, self._rim  # buffers kept between steps (the border stays False)
        padded[1:w + 1, 1:h + 1] = self.free()
        # rim: a free site in the 3x3 block around (a tumour site is never free itself, so this is a free
        # Moore neighbour), the block's maximum taken along x, then along y
        np.logical_or(padded[:w], padded[1:w + 1], out=rows)
        np.logical_or(rows, padded[2:], out=rows)
        np.logical_or(rows[:, :h], rows[:, 1:h + 1], out=rim)
        np.logical_or(rim, rows[:, 2:], out=rim)
        xs, ys = sites(np.logical_and(self.tumor, rim, out=rim))
        divides = self.rng.random(xs.size) < p_divide
        xs, ys = xs[divides], ys[divides]
        if xs.size == 0:
            return 0
        options = padded[xs[:, None] + 1 + MOORE[:, 0], ys[:, None] + 1 + MOORE[:, 1]]
        choice = np.argmax(options * self.rng.random(options.shape), axis=1)
        tx, ty = xs + MOORE[choice, 0], ys + MOORE[choice, 1]
        order = self.rng.permutation(xs.size)
        _, first = np.unique((tx * h + ty)[order], return_index=True)
        keep = order[first]
        xs, ys, tx, ty = xs[keep], ys[keep], tx[keep], ty[keep]

        noise = np.exp(s.antigen_daughter_sigma * self.rng.standard_normal(xs.size)).astype(np.float32)
        lost = self.rng.random(xs.size) < s.antigen_loss_probability
        self.tumor[tx, ty] = True
        self.normal[tx, ty] = False
        self.debris[tx, ty] = 0
        self.antigen_setpoint[tx, ty] = np.where(lost, 0, self.antigen_setpoint[xs, ys] * noise)
        self.antigen[tx, ty] = np.where(lost, 0, self.antigen[xs, ys] * noise)
        self.lineage[tx, ty] = np.where(lost, ACQUIRED_LOSS, self.lineage[xs, ys])
        return int(xs.size)

    def spontaneous_death(self, dt_h: float) -> int:
        """Tumour cells die of their own (apoptosis, necrosis) at ``tumor_death_rate_per_day``.

        Balances rim growth so an untreated lesion doubles its volume in months, and
        makes scattered survivors after a deep kill regrow at the net rate
        (``tumor_growth_rate`` - ``tumor_death_rate_per_day``). Apoptotic cells are
        cleared silently: no debris, no inflammation. Returns the cells lost.
        """
        rate = self.scenario.tumor_death_rate_per_day
        if rate <= 0:
            return 0
        xs, ys = sites(self.tumor)
        dead = self.rng.random(xs.size) < -np.expm1(-rate * dt_h / 24)
        self._clear_tumour((xs[dead], ys[dead]), debris=False)
        return int(np.count_nonzero(dead))

    def hit(self, x: int, y: int, hits_to_kill: float) -> bool:
        """A CAR-T cell delivers one lethal hit to the cell at (x, y); True if it dies.

        Hits add up (additive cytotoxicity, Halle et al. 2016) and are repaired with
        ``hit_half_life_h`` (:meth:`repair_hits`); the cell dies at ``hits_to_kill``.
        """
        self.damage[x, y] += 1
        if self.damage[x, y] < hits_to_kill:
            return False
        self.kill(x, y)
        return True

    def repair_hits(self, dt_h: float) -> None:
        """Surviving cells repair hit damage with half-life ``hit_half_life_h``."""
        self.damage *= np.float32(np.exp(-np.log(2) * dt_h / self.scenario.hit_half_life_h))

    def remodel(self, dt_h: float) -> None:
        """Granulation and scar tissue in killed or resected sites is remodelled
        (``repair_half_life_days``); below one half the site is free for regrowth."""
        self.repair *= np.float32(np.exp(-np.log(2) * dt_h / 24 / self.scenario.repair_half_life_days))

    def recover_antigen(self, dt_h: float) -> None:
        """Down-regulated antigen returns to its set point (``antigen_recovery_per_day``)."""
        k = 1 - np.exp(-self.scenario.antigen_recovery_per_day * dt_h / 24)
        self.antigen += (self.antigen_setpoint - self.antigen) * np.float32(k)

    def clear_debris(self, dt_h: float) -> None:
        """Phagocytes clear dead-cell debris (``debris_clearance_per_day``)."""
        self.debris *= np.float32(np.exp(-self.scenario.debris_clearance_per_day * dt_h / 24))
        self.debris[self.debris < 0.05] = 0

    def bystander_death(self, inflammation: np.ndarray, dt_h: float) -> int:
        """Bystander killing: tumour cells die in inflamed tissue whatever their antigen.

        Cytokines (IFN-gamma, TNF) and Fas ligand from CAR-T cells that are killing
        also kill nearby tumour cells, antigen-negative ones included; a tumour cell
        dies with probability 1 - exp(-``bystander_kill_per_day`` x min(1, inflammation) x dt).
        Returns the number of cells killed.
        """
        rate = self.scenario.bystander_kill_per_day
        if rate <= 0:
            return 0
        xs, ys = sites(self.tumor & (inflammation > 0))
        p = -np.expm1(-rate * np.minimum(inflammation[xs, ys], 1.0) * dt_h / 24)
        dead = self.rng.random(xs.size) < p
        n = int(np.count_nonzero(dead))
        if n:
            self._clear_tumour((xs[dead], ys[dead]), debris=True)
            self.tumor_killed += n
        return n

    def kill(self, x: int, y: int) -> bool:
        """The tissue cell at (x, y) dies by CAR-T killing: it becomes debris, and the
        site fills with granulation tissue (``repair``) once cleared.

        Returns True if it was a tumour cell, False for a normal cell (on-target,
        off-tumour toxicity).
        """
        was_tumor = bool(self.tumor[x, y])
        if was_tumor:
            self._clear_tumour((x, y), debris=True)
            self.tumor_killed += 1
        else:
            self.normal[x, y] = False
            self.antigen[x, y] = 0
            self.antigen_setpoint[x, y] = 0
            self.debris[x, y] = 1
            self.damage[x, y] = 0
            self.repair[x, y] = 1
            self.normal_killed += 1
        return was_tumor

    def _clear_tumour(self, where, debris: bool) -> None:
        """Remove tumour cells at ``where`` (index or mask); cells killed by T cells or
        cytokines leave debris and granulation tissue, resected or apoptotic ones do not."""
        self.tumor[where] = False
        self.lineage[where] = 0
        self.antigen[where] = 0
        self.antigen_setpoint[where] = 0
        self.damage[where] = 0
        if debris:
            self.debris[where] = 1
            self.repair[where] = 1

    # --- read-outs ---------------------------------------------------------------------
    def tumor_cells(self) -> int:
        """Viable tumour cells on the lattice."""
        return int(np.count_nonzero(self.tumor))

    @property
    def antigen_negative(self) -> np.ndarray:
        """Mask of the viable tumour cells whose set point is below IHC 1+ (``NEGATIVE_BELOW``)."""
        return self.tumor & (self.antigen_setpoint < NEGATIVE_BELOW)

    def antigen_positive_cells(self) -> int:
        """Viable tumour cells whose set point is at least IHC 1+ (``NEGATIVE_BELOW``)."""
        return self.tumor_cells() - int(np.count_nonzero(self.antigen_negative))

    def antigen_negative_fraction(self) -> float:
        """Share of viable tumour cells whose set point is below IHC 1+ (0 when none left)."""
        n = self.tumor_cells()
        return float(np.count_nonzero(self.antigen_negative) / n) if n else 0.0
