"""Imaging and response: apparent vs viable lesion, RECIST 1.1 and iRECIST calls.

A scan sees the lattice blurred by its resolution (``imaging_sigma_sites``): a
site reads as lesion where the blurred occupancy exceeds one half.

* viable lesion: tumour cells only;
* apparent lesion: tumour cells + debris + CAR-T infiltrate + edema (the swelling
  state of ``sim.microenv`` above ``edema_threshold``), which is what a CT/MRI
  reader measures.

Longest diameters (:func:`lesion_diameter`) are read as a scan sees the lesion
once dead tissue is resorbed: a real lesion contracts as debris clears, while
cells on the lattice stay where they are, so a lesion whose surviving cells
are scattered over its old extent would keep its Feret diameter. The lattice is
a central section; the share of the disk spanned by the Feret diameter that the
mask fills estimates the share of the sphere's volume still occupied, and the
diameter reported is that of the sphere of that volume: Feret x fill^(1/3)
(RECIST's own thresholds assume this diameter-volume relation: -30% in
diameter = -66% in volume). A solid lesion (fill ~1) reads its Feret diameter.
Diameters are scaled to the patient's millimetres by ``lesion_diameter_mm`` at
baseline. That diameter is the lesion's before any debulking (as the seeded lattice and
``sim.delivery`` read it), so after surgery the baseline reads the diameter of the volume
left, ``lesion_diameter_mm`` x (1 - ``debulking_fraction``)^(1/3). The response rules
are RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009) on one target lesion, with
iRECIST's confirmation of progression (Seymour et al., Lancet Oncol 2017). No maintained
Python package implements RECIST, so the rules are written out here as small pure functions.

Dispersed marrow disease has no lesion diameter: it is judged by the disease's own
criteria on the tumour cells at each assessment (:func:`assess_marrow`): B-ALL by
marrow blasts (complete remission below 5%), myeloma by the reduction of the
tumour burden (IMWG-style: PR >= 50%, CR >= 99%, progression +25% from nadir and by a
tenth of the baseline burden).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial.distance import pdist

CR, PR, SD, PD, NE = "CR", "PR", "SD", "PD", "NE"
OBJECTIVE_RESPONSE = (CR, PR)
"""Best responses counted as objective responses (the ORR's numerator)."""
_RANK = {CR: 0, PR: 1, SD: 2, PD: 3}


@dataclass
class Scan:
    """One imaging time point (diameters in mm of the patient's lesion)."""

    day: int
    apparent_mm: float
    viable_mm: float
    viable_cells: int
    density: float
    """Share of the apparent lesion that is viable tumour: infiltrate and edema read less dense."""
    cytokine: float
    """Systemic cytokine index at the scan: the symptom proxy."""
    blasts: float = 0.0
    """Tumour cells as a share of the marrow's cellular sites (dispersed disease only)."""
    call: str = ""
    """RECIST 1.1 call against baseline and nadir ('' at baseline)."""
    irecist: str = ""
    """iRECIST call: iCR, iPR, iSD, iUPD (unconfirmed) or iCPD (confirmed)."""
    swelling: bool = False
    """The sign of pseudo-progression: apparent progression while the viable tumour did not grow
    (:func:`apparent_only_growth`)."""

    def as_dict(self) -> dict:
        """Plain dict for tables and JSON."""
        return asdict(self)


def read_mask(occupancy: np.ndarray, sigma: float) -> np.ndarray:
    """What a scan shows: blurred occupancy above one half."""
    if sigma <= 0:
        return occupancy > 0.5
    return ndimage.gaussian_filter(occupancy.astype(np.float32), sigma, mode="constant") > 0.5


def longest_diameter(mask: np.ndarray) -> float:
    """Longest diameter (Feret) of a binary mask, in sites; 0 for an empty mask.

    The farthest pair of sites lies on the convex hull, and every hull vertex is the first
    or the last site of its row, so only those (two per row) are compared.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return 0.0
    first = mask[rows].argmax(axis=1)
    last = mask.shape[1] - 1 - mask[rows, ::-1].argmax(axis=1)
    points = np.concatenate([np.column_stack([rows, first]), np.column_stack([rows, last])])
    return float(pdist(points).max()) + 1.0


def lesion_diameter(mask: np.ndarray) -> float:
    """Longest diameter of the lesion after resorption, in sites: Feret x min(1, fill)^(1/3).

    ``fill`` is the mask's area over the area of the disk whose diameter is the
    Feret diameter (see the module docstring); 0 for an empty mask.
    """
    feret = longest_diameter(mask)
    if feret == 0:
        return 0.0
    fill = np.count_nonzero(mask) / (np.pi * feret**2 / 4)
    return feret * min(1.0, fill) ** (1 / 3)


def masks(tissue, fields, tcells_present: np.ndarray, scenario) -> tuple[np.ndarray, np.ndarray]:
    """(apparent, viable) masks as a scan reads them."""
    apparent = tissue.tumor | (tissue.debris > 0.5) | tcells_present | (fields.edema > scenario.edema_threshold)
    return read_mask(apparent, scenario.imaging_sigma_sites), read_mask(tissue.tumor, scenario.imaging_sigma_sites)


def recist_call(d: float, baseline: float, nadir: float, min_increase_mm: float = 5.0) -> str:
    """RECIST 1.1 call for one follow-up diameter (mm) against baseline and nadir.

    CR: lesion gone. PD: >= 20% above the nadir and >= 5 mm absolute.
    PR: >= 30% below baseline. SD: otherwise.
    """
    if d <= 0:
        return CR
    if d >= 1.2 * nadir and d - nadir >= min_increase_mm:
        return PD
    if d <= 0.7 * baseline:
        return PR
    return SD


def apparent_only_growth(scan: Scan, reference: Scan) -> bool:
    """True if ``scan`` reads as progression (its RECIST call is PD, against the nadir) while the
    viable tumour has not grown since ``reference``, the scan of that nadir: the lesion swells
    with infiltrate, edema and debris, not with tumour. The pseudo-progression label of the
    app and the ``pseudo_progression`` of :func:`assess` both rest on this rule.
    """
    return scan.call == PD and scan.viable_mm <= reference.viable_mm


def assess(scans: list[Scan], sd_min_days: int) -> dict:
    """Fill each scan's RECIST and iRECIST calls; return the response summary.

    iRECIST: a first PD is unconfirmed (iUPD); the next scan confirms it (iCPD)
    if the lesion grew by >= 5 mm more, and resets it if the lesion shrank back
    below the PD bar. Best overall response: the best call up to confirmed
    progression; SD counts only at or after ``sd_min_days``; an unconfirmed PD
    at the last scan counts as PD. NE (not evaluable, RECIST 1.1): no follow-up
    scan (the run ends before the first one), or only SD before ``sd_min_days``
    and no progression; without a follow-up scan ``best_pct_change`` is None.

    Returns ``best_response``, ``best_pct_change`` (% change of the apparent
    diameter from baseline at its smallest follow-up before confirmed
    progression), ``pseudo_progression`` (an iUPD scan showing
    :func:`apparent_only_growth`, its ``swelling``, followed by PR/CR before any
    confirmed progression) and ``relapse`` (after a PR/CR, the viable lesion regrows by >= 20%
    and >= 5 mm from its nadir).
    """
    base = scans[0]
    follow = scans[1:]
    if not follow or base.apparent_mm <= 0:
        return {"best_response": NE if base.apparent_mm > 0 else CR, "best_pct_change": None,
                "pseudo_progression": False, "relapse": False}
    nadir = base.apparent_mm
    nadir_scan = base
    unconfirmed_at = None
    best = None
    confirmed = False
    for scan in follow:
        scan.call = recist_call(scan.apparent_mm, base.apparent_mm, nadir)
        scan.swelling = apparent_only_growth(scan, nadir_scan)
        if confirmed:
            scan.irecist = "iCPD"
        elif scan.call == PD:
            if unconfirmed_at is not None and scan.apparent_mm - unconfirmed_at >= 5.0:
                scan.irecist, confirmed = "iCPD", True
            else:
                scan.irecist = "iUPD"
                unconfirmed_at = scan.apparent_mm if unconfirmed_at is None else unconfirmed_at
        else:
            scan.irecist, unconfirmed_at = "i" + scan.call, None
        if not confirmed and scan.call != PD and (scan.call != SD or scan.day >= sd_min_days):
            best = scan.call if best is None else min(best, scan.call, key=_RANK.get)
        if scan.apparent_mm < nadir:
            nadir, nadir_scan = scan.apparent_mm, scan
    if best is None:
        best = PD if any(scan.call == PD for scan in follow) else NE

    pseudo = False
    for i, scan in enumerate(follow):
        if scan.irecist == "iUPD" and scan.swelling:
            pseudo = pseudo or any(later.irecist in ("iCR", "iPR") for later in follow[i + 1:])

    relapse = False
    responded = False
    viable_nadir = base.viable_mm
    for scan in follow:
        if responded and scan.viable_mm >= 1.2 * viable_nadir and scan.viable_mm - viable_nadir >= 5.0:
            relapse = True
        responded = responded or scan.call in (CR, PR)
        viable_nadir = min(viable_nadir, scan.viable_mm)

    change = min(100.0 * (s.apparent_mm - base.apparent_mm) / base.apparent_mm for s in follow if s.irecist != "iCPD")
    return {"best_response": best, "best_pct_change": round(change, 2),
            "pseudo_progression": pseudo, "relapse": relapse}


MARROW_CR_BLASTS = 0.05
"""B-ALL complete remission: marrow blasts below 5%."""
BURDEN_PR, BURDEN_CR, BURDEN_PD, BURDEN_PD_MIN = 0.5, 0.99, 0.25, 0.1
"""Myeloma (IMWG-style, tumour burden): PR >= 50% and CR >= 99% reduction from baseline; PD +25% from
nadir and by at least a tenth of the baseline burden (IMWG's absolute floor, >= 0.5 g/dL of M-protein
against a typical 3-5 g/dL)."""


def marrow_call(scan: Scan, base: Scan, nadir_cells: int, criteria: str) -> str:
    """Response of dispersed marrow disease at one assessment.

    ``blasts`` (B-ALL): CR below 5% marrow blasts, PD when the blasts are at least 5%
    and the tumour cells grew by 25% from their nadir, otherwise SD (no partial
    remission: ORR is the CR rate, as in ELIANA). ``burden`` (myeloma): reduction of
    tumour cells from baseline, CR >= 99%, PR >= 50%, PD +25% from nadir and by at
    least a tenth of the baseline burden.
    """
    grew = scan.viable_cells >= (1 + BURDEN_PD) * nadir_cells and scan.viable_cells > nadir_cells
    if criteria == "blasts":  # the 5% blast floor is the absolute condition
        if scan.blasts < MARROW_CR_BLASTS:
            return CR
        return PD if grew else SD
    reduction = 1 - scan.viable_cells / max(base.viable_cells, 1)
    if reduction >= BURDEN_CR:
        return CR
    if grew and scan.viable_cells - nadir_cells >= BURDEN_PD_MIN * base.viable_cells:
        return PD
    return PR if reduction >= BURDEN_PR else SD


def assess_marrow(scans: list[Scan], criteria: str) -> dict:
    """Fill each assessment's call for dispersed marrow disease; return the response summary.

    Same keys as :func:`assess`: ``best_pct_change`` is the % change of the tumour
    cells (the disease burden) at its smallest; ``relapse`` is progression after a
    response; no pseudo-progression (there is no lesion to swell).
    """
    base, follow = scans[0], scans[1:]
    best, nadir, responded, relapse, progressed = PD, base.viable_cells, False, False, False
    for scan in follow:
        scan.call = marrow_call(scan, base, nadir, criteria)
        scan.irecist = scan.call
        progressed = progressed or scan.call == PD
        if not progressed:
            best = min(best, scan.call, key=_RANK.get)
        relapse = relapse or (responded and scan.call == PD)
        responded = responded or scan.call in (CR, PR)
        nadir = min(nadir, scan.viable_cells)
    if not follow:  # not evaluable, as in :func:`assess`
        return {"best_response": NE, "best_pct_change": None, "pseudo_progression": False, "relapse": False}
    change = min(100.0 * (s.viable_cells - base.viable_cells) / max(base.viable_cells, 1) for s in follow)
    return {"best_response": best, "best_pct_change": round(change, 2),
            "pseudo_progression": False, "relapse": relapse}
