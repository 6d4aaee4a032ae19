"""Every parameter of the model, declared once: type, unit, meaning, allowed values, source.

Each parameter is an annotated class attribute of :class:`Parameters`::

    dose: Annotated[float, Spec("cells", "CAR-T cells infused", low=0)] = 2.5e8

so the defaults, the validation (``sim.scenario.CARTScenario``, a Mesa ``Scenario``
built on this class), the CLI's parameter list and the parameter table in
``docs/model.md`` share one source. This module imports neither Mesa nor NumPy, so
``cartsim scenarios --parameters`` starts fast.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from sim import tables


@dataclass(frozen=True)
class Spec:
    """What one parameter means and which values it accepts.

    ``low``/``high`` are inclusive bounds unless ``open_low``/``open_high``;
    ``choices`` returns the allowed names for a string parameter.
    """

    unit: str
    meaning: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: Callable[[], Iterable[str]] | None = None
    source: str = "modelling assumption"

    def allowed(self, kind: type) -> str:
        """Human-readable statement of the allowed values."""
        if self.choices is not None:
            return "one of " + ", ".join(sorted(self.choices()))
        if kind is bool:
            return "true or false"
        noun = "a whole number" if kind is int else "a number"
        parts = []
        show = (lambda v: str(int(v))) if kind is int else (lambda v: f"{v:g}")
        if self.low is not None:
            parts.append(f"{'>' if self.open_low else '>='} {show(self.low)}")
        if self.high is not None:
            parts.append(f"{'<' if self.open_high else '<='} {show(self.high)}")
        return f"{noun} {' and '.join(parts)}".strip()


_P = Spec  # short alias for the declarations below


class Parameters:
    """All parameters of a cartsim run with their defaults (a gastric CLDN18.2 lesion, IV).

    Attributes are grouped as: what is treated, the lattice and time, the tumour,
    the microenvironment, CAR-T cells, the blood compartment, imaging. Units and
    meanings are in each attribute's ``Spec``; ``Parameters.describe()`` lists them.
    """

    __slots__ = ()  # plain declarations: a scenario's values live in its Mesa ``Scenario`` instance

    # --- what is treated -------------------------------------------------------
    target: Annotated[str, _P("-", "target antigen (row of seeds/targets.toml)",
                              choices=lambda: tables.targets(), source="seeds/targets.toml")] = "CLDN18.2"
    site: Annotated[str, _P("-", "lesion site (row of seeds/sites.toml)",
                            choices=lambda: tables.sites(), source="seeds/sites.toml")] = "stomach"
    route: Annotated[str, _P("-", "delivery route (row of seeds/routes.toml)",
                             choices=lambda: tables.routes(), source="seeds/routes.toml")] = "intravenous"
    dose: Annotated[float, _P("cells", "CAR-T cells infused (clinical count); 0 = untreated",
                              low=0, high=1e12,
                              source="CT041 doses 2.5e8-5e8 (Qi et al., Nat Med 2022)")] = 2.5e8
    product: Annotated[str, _P("-", "CAR-T product design (row of seeds/products.toml)",
                               choices=lambda: tables.products(), source="seeds/products.toml")] = "second_generation"
    lymphodepletion: Annotated[bool, _P("-", "fludarabine/cyclophosphamide before infusion: boosts blood expansion",
                                        source="REFERENCE.md, lymphodepletion row")] = True
    debulking_fraction: Annotated[float, _P("0..1", "share of the lesion removed by surgery before infusion (and of the circulating suppressive myeloid cells the tumour raises)",
                                            low=0, high=1, open_high=True,
                                            source="seed article: debulking lowers the burden and improves the microenvironment; Sinha et al., J Immunol 2005: resection lowers MDSCs")] = 0.0

    # --- lattice and time ------------------------------------------------------
    width: Annotated[int, _P("sites", "lattice width (one site = one cell, 15 um)", low=20, high=4000)] = 100
    height: Annotated[int, _P("sites", "lattice height", low=20, high=4000)] = 100
    days: Annotated[int, _P("days", "simulated days after infusion", low=1, high=3650)] = 84
    seed: Annotated[int, _P("-", "random seed", low=0, high=2**63 - 1)] = 42
    scan_interval_days: Annotated[int, _P("days", "days between imaging scans (baseline at day 0)",
                                          low=1, high=365, source="DESIGN.md: scans every 28 days")] = 28

    # --- tumour ----------------------------------------------------------------
    lesion_fraction: Annotated[float, _P("0..1", "lesion diameter at seeding as a share of the lattice side",
                                         low=0.05, high=0.9)] = 0.5
    lesion_diameter_mm: Annotated[float, _P("mm", "the patient's lesion longest diameter before any debulking (scales lattice diameters to mm)",
                                            low=1, high=300)] = 30.0
    tumor_burden_cm3: Annotated[float, _P("cm3", "the patient's whole tumour burden (1e9 cells per cm3)",
                                          low=0.01, high=5000)] = 50.0
    tumor_growth_rate: Annotated[float, _P("1/day", "division rate of a tumour cell with free space beside it",
                                           low=0, high=5, source="REFERENCE.md: in-vivo doubling weeks to months, growth at the rim")] = 0.08
    tumor_death_rate_per_day: Annotated[float, _P("1/day", "spontaneous loss of tumour cells (apoptosis, necrosis), everywhere in the lesion",
                                                  low=0, high=5, source="REFERENCE.md: volume doubling weeks to months (HCC median ~86 days, An et al. 2015)")] = 0.02
    antigen_negative_fraction: Annotated[float, _P("0..1", "share of tumour cells without the target at seeding (in patches)",
                                                   low=0, high=1, source="REFERENCE.md: antigen heterogeneity")] = 0.1
    antigen_density_scale: Annotated[float, _P("x", "this patient's antigen density relative to the target's typical density",
                                               low=0, high=10)] = 1.0
    antigen_loss_probability: Annotated[float, _P("per division", "chance a daughter cell loses the antigen heritably",
                                                  low=0, high=1, source="modelling assumption, order of magnitude: heritable loss (mutation, splicing, lineage switch) arising during treatment; pre-existing antigen-negative clones are the population's (negative_clone_patients in seeds/targets.toml; REFERENCE.md: CD19-negative relapse)")] = 1e-4
    antigen_daughter_sigma: Annotated[float, _P("ln units", "lognormal noise of daughter antigen density", low=0, high=3)] = 0.1
    trogocytosis_loss: Annotated[float, _P("0..1", "share of antigen a tumour cell loses when it survives an engagement",
                                           low=0, high=1)] = 0.1
    antigen_recovery_per_day: Annotated[float, _P("1/day", "rate at which down-regulated antigen returns to its set point",
                                                  low=0, high=24, source="analogues, the gene still expressed: surface CD20 back within 24 h of rituximab stripping (Jilani et al., Blood 2003;102:3514), surface BCMA refilled within 4 h once shedding stops (Chen et al., Blood Cancer J 2022; Pont et al., Blood 2019;134:1585); range 0.2-3/day, 0.2 only for transcriptional silencing (Im et al., Cancer Immunol Res 2022); no study times recovery after CAR trogocytosis (Hamieh et al., Nature 2019)")] = 1.0
    debris_clearance_per_day: Annotated[float, _P("1/day", "clearance rate of dead-cell debris (what a scan reads as lesion)", low=0, high=24)] = 0.25
    repair_half_life_days: Annotated[float, _P("days", "half-life of the granulation/scar tissue that fills killed or resected tumour sites (not free for regrowth while above one half)",
                                               low=0.01, high=1000, source="wound remodelling lasts from about day 21 to a year (Gonzalez et al., An Bras Dermatol 2016); the value is a modelling assumption")] = 60.0

    # --- microenvironment --------------------------------------------------------
    suppression: Annotated[float, _P("0..1", "maximal fractional loss of CAR-T killing and proliferation in fully suppressive tissue",
                                     low=0, high=1, source="REFERENCE.md: suppressive microenvironment")] = 0.5
    suppression_half_life_h: Annotated[float, _P("h", "half-life of the suppressive (TGF-beta-like) field", low=0.1, high=1000)] = 6.0
    chemokine_half_life_h: Annotated[float, _P("h", "half-life of the chemokine field", low=0.1, high=1000)] = 4.0
    inflammation_half_life_h: Annotated[float, _P("h", "half-life of inflammation (IFN-gamma, cytokines) where CAR-T cells kill", low=0.1, high=1000)] = 48.0
    edema_half_life_days: Annotated[float, _P("days", "half-life of the inflammatory swelling (edema, infiltrate) once inflammation has gone",
                                              low=0.01, high=1000, source="REFERENCE.md: pseudo-progression; calibrated: the swelling of days 10-14 has resolved by a day-28 scan")] = 5.0
    ifn_half_saturation: Annotated[float, _P("rel.", "inflammation at which its IFN-gamma response (PD-L1 induction, myeloid recruitment) is half-maximal",
                                             low=0, open_low=True, high=100)] = 0.01
    edema_half_saturation: Annotated[float, _P("rel.", "inflammation at which inflammatory swelling (vascular leak, infiltrate) is half-maximal",
                                               low=0, open_low=True, high=100, source="calibrated: some, not all, responders read larger at a day-14 scan (REFERENCE.md: pseudo-progression in some responders)")] = 0.04
    adaptive_resistance: Annotated[float, _P("0..1", "share of T-cell function blocked by PD-L1 fully induced on tissue by IFN-gamma",
                                             low=0, high=1, source="REFERENCE.md: adaptive resistance (Spranger et al. 2013; Cherkassky et al. 2016)")] = 0.5
    pdl1_induction_h: Annotated[float, _P("h", "time constant of PD-L1 induction by inflammation", low=0.1, high=1000,
                                          source="REFERENCE.md: PD-L1 induced within a day (Spranger et al. 2013)")] = 12.0
    pdl1_half_life_days: Annotated[float, _P("days", "half-life of induced PD-L1 once inflammation has gone", low=0.01, high=1000)] = 4.0
    myeloid_suppression: Annotated[float, _P("0..1", "share of T-cell function blocked where suppressive myeloid/regulatory cells are at full density",
                                             low=0, high=1, source="modelling assumption (REFERENCE.md: suppressive microenvironment)")] = 0.5
    myeloid_recruitment_days: Annotated[float, _P("days", "time constant of myeloid/regulatory cell recruitment by stroma and inflammation",
                                                  low=0.01, high=1000)] = 3.0
    myeloid_half_life_days: Annotated[float, _P("days", "half-life of suppressive myeloid/regulatory cells once their recruiting signal has gone",
                                                low=0.01, high=1000, source="issue 15: outlasts tumour death, a week or more")] = 10.0
    myeloid_block: Annotated[float, _P("0..1", "share of CAR-T moves and entries that fail at full myeloid density (times suppression)",
                                       low=0, high=1)] = 0.5
    myeloid_expansion_burden_cm3: Annotated[float, _P("cm3", "stromal tumour burden (cm3 of lesion stroma, times the patient's suppression) whose circulating suppressive myeloid cells halve CAR-T expansion in blood and regional pools",
                                                      low=0, open_low=True, high=1e6, source="modelling assumption; REFERENCE.md: peak CAR-T per unit burden higher in durable responders (Locke et al., Blood Adv 2020); circulating monocytic MDSCs with low CAR-T expansion (Jain et al., Blood 2021)")] = 2.5
    diffusion_um2_per_s: Annotated[float, _P("um2/s", "effective diffusion coefficient of the soluble fields in tissue",
                                             low=0.01, high=1000)] = 1.0
    stroma_scale: Annotated[float, _P("x", "this patient's stroma density relative to the site's (capped at 1)",
                                      low=0, high=10)] = 1.0
    field_update_h: Annotated[int, _P("h", "hours between updates of the fields and the slow tissue rules",
                                      low=1, high=24)] = 3
    stroma_block: Annotated[float, _P("0..1", "chance a T-cell move into fully dense stroma fails", low=0, high=1,
                                      source="REFERENCE.md: motility slower in dense stroma")] = 0.8

    # --- CAR-T cells in the lesion ---------------------------------------------------
    car_affinity: Annotated[float, _P("rel. density", "antigen density at half-maximal killing (K of the Hill rule); lower = higher affinity",
                                      low=0, open_low=True, high=100, source="Prybutok et al. 2022: affinity trades selectivity for efficacy")] = 0.3
    hill_coefficient: Annotated[float, _P("-", "steepness of killing vs antigen density", low=0.1, high=20)] = 2.0
    activation_threshold: Annotated[float, _P("rel. density", "minimal antigen density a CAR engages", low=0, high=10)] = 0.05
    hit_probability_max: Annotated[float, _P("per h", "chance an engaged hour delivers a lethal hit at saturating antigen",
                                             low=0, high=1, source="REFERENCE.md: killing in vivo (Halle et al. 2016)")] = 1.0
    hits_to_kill: Annotated[float, _P("hits", "cumulative hits a target needs to die (additive cytotoxicity)",
                                      low=0.1, high=50, source="REFERENCE.md: a target is likelier to die after more than two contacts (Halle et al. 2016)")] = 2.0
    hit_half_life_h: Annotated[float, _P("h", "half-life of a hit's damage in a surviving target (repair)",
                                         low=0.1, high=1000, source="Halle et al. 2016 (approx.): hits integrate over hours")] = 6.0
    bystander_kill_per_day: Annotated[float, _P("1/day", "death rate of any tumour cell in fully inflamed tissue, antigen or not (cytokine/Fas bystander killing)",
                                                low=0, high=24, source="modelling assumption; calibrated on the CLDN18.2 trial (docs/calibration.md)")] = 3.0
    tcell_fitness: Annotated[float, _P("0..1", "product fitness: multiplies the chance of dividing after a kill, not the kill itself",
                                       low=0, high=1,
                                       source="responders' products are memory-like and expand more, non-responders' effector-like, "
                                              "exhausted, apoptotic (Fraietta et al., Nat Med 2018); failures show attenuated expansion "
                                              "or rapid attrition, not weaker killing (Finney et al., JCI 2019)")] = 1.0
    tcell_speed_um_per_min: Annotated[float, _P("um/min", "CAR-T motility in stroma-free tissue", low=0, high=30,
                                                source="Salmon et al., JCI 2012 (REFERENCE.md): 2-10 um/min")] = 2.0
    chemotaxis_bias: Annotated[float, _P("0..1", "share of moves that go up the chemokine gradient", low=0, high=1)] = 0.1
    divisions_max: Annotated[int, _P("divisions", "antigen-driven divisions left to a cell entering the lesion", low=0, high=40)] = 10
    division_probability: Annotated[float, _P("per kill", "chance of dividing after a kill (before suppression)",
                                              low=0, high=1,
                                              source="calibrated with the solid sites' homing_per_day (docs/calibration.md, sessions 15-16); "
                                                     "a cytotoxic T cell kills about 2-16 cells a day (Halle et al. 2016) "
                                                     "and a stimulated T cell divides about every 6-12 h (approx.)")] = 0.8
    serial_killing_h: Annotated[float, _P("h", "hours of engagement after which a CAR-T cell is exhausted (its serial-killing budget; shorter under suppression)",
                                          low=0.1, high=10000, source="REFERENCE.md: CAR-T serial killing stops after about 20 h in vitro (Davenport et al. 2015); 84 h is calibrated, the smallest step from 96 h that keeps debulking and the haematologic contrast (docs/calibration.md, sessions 22-23)")] = 84.0
    effector_half_life_days: Annotated[float, _P("days", "survival half-life of an effector CAR-T cell in tissue", low=0.1, high=1000)] = 7.0
    memory_half_life_days: Annotated[float, _P("days", "survival half-life of a memory CAR-T cell",
                                               low=0.1, high=10000, source="REFERENCE.md: persistence months in responders")] = 60.0
    exhausted_half_life_days: Annotated[float, _P("days", "survival half-life of an exhausted CAR-T cell", low=0.1, high=1000)] = 2.0
    memory_after_days: Annotated[float, _P("days", "mean days without antigen before an effector becomes memory", low=0.1, high=1000)] = 7.0

    # --- blood compartment ------------------------------------------------------------
    expansion_rate_per_day: Annotated[float, _P("1/day", "CAR-T expansion rate in blood or a regional pool when antigen is plentiful",
                                                low=0, high=5, source="REFERENCE.md: blood kinetics (Stein et al. 2019)")] = 0.55
    expansion_half_saturation_cells: Annotated[float, _P("cells", "antigen-bearing cells a pool must meet for half-maximal stimulation while CAR-T cells are few (K of the Beddington-DeAngelis rule, sim.tcells.CARTPool)",
                                                         low=0, high=1e13, source="modelling assumption; REFERENCE.md: expansion larger in haematologic than solid tumours (Liu et al. 2021), CD19 peak does not track dose (Stein et al. 2019)")] = 1.2e9
    lymphodepletion_expansion_factor: Annotated[float, _P("x", "multiplier of the expansion rate after lymphodepletion",
                                                          low=1, high=10, source="REFERENCE.md: lymphodepletion raises expansion")] = 1.6
    expansion_days: Annotated[float, _P("days", "days of the programmed expansion phase before contraction (Tmax)", low=0, high=60,
                                        source="REFERENCE.md: Tmax about 9-10 days (Stein et al. 2019)")] = 9.5
    contraction_rate_per_day: Annotated[float, _P("1/day", "effector contraction rate after the expansion phase",
                                                  low=0, high=5, source="REFERENCE.md: contraction about 0.16/day (Stein et al. 2019)")] = 0.16
    memory_conversion_per_day: Annotated[float, _P("1/day", "rate at which contracting effectors become memory", low=0, high=5,
                                                   source="REFERENCE.md: a small memory share, under 1% (Stein et al. 2019)")] = 0.002
    memory_decay_per_day: Annotated[float, _P("1/day", "decay rate of memory CAR-T in blood", low=0, high=5,
                                              source="REFERENCE.md: persistence months to years")] = 0.0032

    # --- schedule and follow-up --------------------------------------------------
    first_scan_day: Annotated[int, _P("days", "day of the first follow-up scan; later scans every scan_interval_days (sim/schedule.py)",
                                      low=1, high=365, source="iRECIST trials: first scan at 4 weeks (Seymour et al. 2017)")] = 28
    infusions: Annotated[int, _P("infusions", "infusions planned: day 0, then every reinfusion_interval_days while not progressed",
                                 low=1, high=3, source="CT041-ST-01: up to three infusions of 2.5e8 cells (Qi et al., Lancet 2025)")] = 1
    reinfusion_interval_days: Annotated[int, _P("days", "days between planned infusions", low=7, high=365,
                                                source="modelling assumption")] = 28
    stop_at_progression: Annotated[bool, _P("-", "end a run at iRECIST-confirmed progression (its outcomes are known; long trials run faster)")] = False

    # --- imaging and toxicity ---------------------------------------------------
    imaging_sigma_sites: Annotated[float, _P("sites", "blur of the imaging read-out (partial volume)", low=0, high=50)] = 2.0
    edema_threshold: Annotated[float, _P("rel.", "edema (swelling state) above which a site reads as lesion", low=0, high=100)] = 0.3
    sd_min_days: Annotated[int, _P("days", "earliest scan day at which stable disease counts for best response",
                                   low=0, high=365, source="RECIST 1.1 (Eisenhauer et al. 2009): protocol-set minimum, commonly 6-8 weeks")] = 42
    cytokine_per_kill: Annotated[float, _P("index per (share of burden killed per day)", "systemic cytokine produced by tumour killing",
                                           low=0, high=1e6, source="calibrated: CT041 CRS mostly grade 1-2, none >= 3 (Qi et al. 2022)")] = 12.0
    cytokine_half_life_days: Annotated[float, _P("days", "half-life of the systemic cytokine index", low=0.01, high=100)] = 1.0
    @classmethod
    def parameter_names(cls) -> list[str]:
        """Names of all parameters, in declaration order."""
        return list(Parameters.__annotations__)

    @classmethod
    @cache
    def specs(cls) -> dict[str, tuple[type, Spec, Any]]:
        """``name -> (type, Spec, default)`` for every parameter."""
        hints = get_type_hints(cls, include_extras=True)
        out = {}
        for name in cls.parameter_names():
            kind, spec = get_args(hints[name])[:2] if get_origin(hints[name]) is Annotated else (hints[name], None)
            out[name] = (kind, spec, getattr(Parameters, name))
        return out

    @classmethod
    def markdown_table(cls) -> str:
        """The parameter table of docs/model.md: name, unit, default, allowed, meaning, source."""
        rows = ["| name | unit | default | allowed | meaning | source |", "|---|---|---|---|---|---|"]
        for name, (kind, spec, default) in cls.specs().items():
            allowed = "see seeds/" if spec.choices else cls.allowed(name)
            rows.append(f"| `{name}` | {spec.unit} | {default} | {allowed} | {spec.meaning} | {spec.source} |")
        return "\n".join(rows) + "\n"

    @classmethod
    def describe(cls) -> list[str]:
        """One line per parameter: name, default, unit, meaning, allowed values.

        For ``width``/``height`` the allowed range is the one that holds for the default
        lesion and site (the lesion must hold ``MIN_TUMOR_CELLS``), not the Spec's bound.
        """
        lines = []
        for name, (kind, spec, default) in cls.specs().items():
            lines.append(f"{name:34s} {default!s:>10}  [{spec.unit}]  {spec.meaning}; {cls.allowed(name)}")
        return lines

    @classmethod
    def allowed(cls, name: str) -> str:
        """The values parameter ``name`` accepts on its own; for ``width``/``height`` the floor that
        holds at the default lesion_fraction and site (:func:`side_allowed`)."""
        kind, spec, _ = cls.specs()[name]
        if name in ("width", "height"):
            return side_allowed(Parameters.lesion_fraction, Parameters.site, "the default ")
        return spec.allowed(kind)


MIN_TUMOR_CELLS = 300
"""Smallest lesion the lattice must hold: below this, RECIST diameters are noise."""


def side_allowed(lesion_fraction: float, site: str, which: str = "") -> str:
    """The allowed ``width``/``height``: a whole number from :func:`min_side` to the Spec's upper bound.

    The Spec's own lower bound (20) is never the binding one: the lesion must hold
    ``MIN_TUMOR_CELLS`` tumour cells, which needs a larger side at any site.
    """
    high = Parameters.specs()["width"][1].high
    return (f"a whole number >= {min_side(lesion_fraction, site)} and <= {high:g} (at {which}lesion_fraction "
            f"{lesion_fraction:g} and site {site} the lesion must hold {MIN_TUMOR_CELLS} tumour cells)")


def min_side(lesion_fraction: float, site: str) -> int:
    """Smallest lattice side whose lesion (``lesion_fraction`` of the side, at ``site``'s
    tumour density) holds ``MIN_TUMOR_CELLS`` tumour cells."""
    density = tables.sites()[site]["tumor_density"]
    return math.ceil(2 * math.sqrt(MIN_TUMOR_CELLS / math.pi / density) / lesion_fraction)


def within(value: Any, kind: type, spec: Spec) -> bool:
    """Whether ``value`` is of type ``kind`` and within ``spec`` (choices, bounds; finite numbers)."""
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        return False
    if spec.choices is not None:
        return value in spec.choices()
    if kind is bool:
        return True
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if spec.low is not None and (value <= spec.low if spec.open_low else value < spec.low):
        return False
    if spec.high is not None and (value >= spec.high if spec.open_high else value > spec.high):
        return False
    return True
