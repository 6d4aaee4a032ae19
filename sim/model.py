"""CARTModel: wires tissue, fields, CAR-T cells, the blood compartment and delivery.

One step is ``dt_h`` = 1 hour; step 1 starts at infusion (day 0), after the
optional debulking and a one-day settling of the fields. Order within a step:

1. delivery: the route's systemic share into blood, its local share into the
   lesion's region (``sim.delivery``); re-infusions on their days if the patient
   has not progressed (``sim.schedule``), each with pools of its own;
2. blood and region pools: antigen-driven expansion or contraction (the antigen
   each pool meets: :meth:`CARTModel.antigen_load`, for which the pools of several
   infusions compete through their summed effectors); blood cells home through
   vessels, regional cells enter at the route's entry sites, where suppressive
   myeloid cells turn some away;
3. CAR-T cells, in random order: die, engage/hit/kill/divide, or move (``sim.tcells``);
4. tissue: antigen recovery and repair of hits, the two tissue rules that answer
   each hour's engagements (``sim.tissue``);
5. every ``field_update_h`` hours, each rule over the whole interval (kills in
   between deposit inflammation at once): bystander killing in inflamed tissue, rim
   growth, spontaneous tumour loss, debris clearance and remodelling of killed sites
   (``sim.tissue``; rates per day, so a division or death is a few per cent per
   interval); fields and slow states: secretion, diffusion, decay, PD-L1, myeloid
   cells, edema, chemotactic direction, inhibition (``sim.microenv``);
6. systemic cytokine from the share of burden killed (``sim.toxicity``); at each whole day the
   DataCollector records the state, and on scan days (``sim.schedule``) the lesion is imaged.

``run(scenario)`` runs a model to ``days`` (or, with ``stop_at_progression``, to
confirmed progression) and returns a :class:`Result`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from mesa import DataCollector, Model
from tqdm import tqdm

from sim import imaging, schedule, survival, tables
from sim.delivery import Delivery
from sim.imaging import Scan
from sim.lattice import LatticeGrid
from sim.microenv import SITE_UM, Fields, circulating_myeloid
from sim.guard import check_memory
from sim.scenario import CARTScenario, ScenarioError, coerce
from sim.tcells import CARTCell, CARTPool, Phenotype
from sim.toxicity import SystemicCytokine, crs_grade
from sim.tissue import Tissue

SETTLE_H = 24
"""Hours the fields are run before infusion so secretion and gradients exist at day 0."""


class CARTModel(Model):
    """A CAR-T therapy against one lesion, on a 2D lattice of cells.

    Args:
        scenario: a :class:`CARTScenario`; if omitted, one is built from ``params``.
        rng: seed (a whole number) overriding ``scenario.seed``; accepted so that
            ``mesa.batch_run(CARTModel, parameters, rng=[...])`` works.
        **params: parameter overrides (any CARTScenario name; NumPy scalars accepted).

    Raises ScenarioError (one line) for anything but a CARTScenario, a seed that is not
    a whole number, or a lattice too large for this machine's memory (``sim.guard``).
    """

    def __init__(self, scenario: CARTScenario | None = None, *, rng: int | None = None, **params):
        if scenario is not None and not isinstance(scenario, CARTScenario):
            raise ScenarioError(f"scenario {scenario!r}: allowed: a CARTScenario; for a preset or file "
                                f"use load_scenario({scenario!r})")
        if rng is not None:
            params["seed"] = coerce("seed", rng)
        if scenario is None:
            scenario = CARTScenario(**params)
        elif params or scenario.model is not None:  # a Mesa scenario belongs to one model: copy it
            scenario = scenario.replace(**params)
        check_memory(scenario.width, scenario.height)
        super().__init__(scenario=scenario)
        s = scenario
        self.dt_h = 1.0
        self.grid = LatticeGrid((s.width, s.height), torus=False, capacity=1, random=self.random)
        self.tissue = Tissue(self.grid, s, self.rng)
        self.tissue.debulk(s.debulking_fraction)
        self.fields = Fields(self.grid, s)
        self.fields.settle(self.tissue)
        for _ in range(SETTLE_H // s.field_update_h):
            self.fields.update(self.tissue, s.field_update_h)
        self.delivery = Delivery(s, self.tissue)
        self.circulating_myeloid = circulating_myeloid(s, self.tissue.stroma_share, self.delivery.burden_cells)
        """Level of tumour-raised circulating suppressive myeloid cells, damping every pool's expansion."""
        self.blood = CARTPool(s, self.circulating_myeloid)
        self.region = CARTPool(s, self.circulating_myeloid)
        self.courses = [(0.0, self.blood, self.region)]
        """(start hour, blood pool, regional pool) of each infusion given; re-infusions append (sim.schedule)."""
        self.pending_reinfusions = schedule.reinfusion_days(s)
        self.cytokine = SystemicCytokine(s)
        self.homing_per_day = self.tissue.site["homing_per_day"]

        hourly = self.dt_h / 24
        persistence = tables.products()[s.product]["persistence_factor"]
        self.companion_antigen_cells = float(tables.products()[s.product]["companion_antigen_cells"])
        """Normal cells a co-infused companion CAR meets (seeds/products.toml): they drive blood expansion."""
        self.death_probability = [
            -np.expm1(-np.log(2) * hourly / (s.effector_half_life_days * persistence)),
            -np.expm1(-np.log(2) * hourly / (s.memory_half_life_days * persistence)),
            -np.expm1(-np.log(2) * hourly / s.exhausted_half_life_days),
        ]
        self.exhaustion_per_h = self.dt_h / s.serial_killing_h
        """Share of a CAR-T cell's serial-killing budget spent per engaged step (before inhibition)."""
        self.antigen_kept_per_contact = float(np.float32(1 - s.trogocytosis_loss))
        """Share of a target's antigen left after an engaged hour without a hit (trogocytosis), in float32
        like the antigen layer."""
        self.memory_probability = -np.expm1(-hourly / s.memory_after_days)
        self.affinity_h = s.car_affinity ** s.hill_coefficient
        self.moves_per_step = int(round(s.tcell_speed_um_per_min * 60 * self.dt_h / SITE_UM))
        stroma = self.tissue.stroma
        self.move_block = {(int(x), int(y)): float(stroma[x, y]) * s.stroma_block for x, y in np.argwhere(stroma > 0)}
        """Chance that a move into a stroma site fails, for the sites with stroma (stroma is static)."""

        self.tumor_cells_baseline = self.tissue.tumor_cells()
        self.positive_cells_baseline = self.tissue.antigen_positive_cells()
        self.marrow_sites = int(np.pi * self.tissue.radius ** 2)
        """Cellular sites of the diseased marrow (the seeded disk): the denominator of the blast share."""
        self.response_criteria = (self.tissue.target.get("marrow_response", "burden")
                                  if self.tissue.site["dispersed"] else "recist")
        """How response is read: "recist" on the lesion diameter, or the marrow disease's own criteria."""
        self.normal_target_cells = int(np.count_nonzero(self.tissue.normal & (self.tissue.antigen >= s.activation_threshold)))
        self.tcells_entered = self.tcells_born = self.tcells_died = 0
        self.backlog = {"vessels": 0, "surface": 0, "core": 0}
        self.kills_today = 0
        self.max_daily_kill_fraction = 0.0
        self.scans: list[Scan] = []
        self._mm_per_site = 0.0
        self.datacollector = DataCollector(model_reporters={k: _reporter(k) for k in OBSERVED})
        self._observe()

    # --- the step -------------------------------------------------------------------------
    def step(self) -> None:
        """Advance one hour (see the module docstring for the order of rules)."""
        s, dt = self.scenario, self.dt_h
        hour = (self.steps - 1) * dt
        delivery = self.delivery
        if self.pending_reinfusions and hour >= 24 * self.pending_reinfusions[0]:
            self.pending_reinfusions.pop(0)
            self.assess()
            if not schedule.progressed(self.scans):
                self.courses.append((hour, CARTPool(s, self.circulating_myeloid), CARTPool(s, self.circulating_myeloid)))
        for start_h, blood, region in self.courses:
            released = delivery.in_window(hour - start_h, dt)
            if released:
                blood.infuse(delivery.systemic_cells * released)
                region.infuse(delivery.local_cells * released)
        blood_antigen, region_antigen = self.antigen_load()
        blood_effectors = sum(blood.effector for _, blood, _ in self.courses)
        region_effectors = sum(region.effector for _, _, region in self.courses)
        homed = entered = 0.0
        homing = self.homing_per_day * self.tumour_share()
        for start_h, blood, region in self.courses:
            since = (hour - start_h) / 24
            homed += blood.step(since, dt, homing, blood_antigen,
                                self.tissue.target["normal_tissue_uptake_per_day"], blood_effectors)
            entered += region.step(since, dt, delivery.route.entry_per_day, region_antigen,
                                   competing_effectors=region_effectors)
        self._enter(self.rng.poisson(delivery.homing_agents(homed)), "vessels")
        self._enter(self.rng.poisson(delivery.regional_agents(entered)), delivery.route.entry)

        killed_before = self.tissue.tumor_killed
        self.agents.shuffle_do("step")
        tissue = self.tissue
        tissue.recover_antigen(dt)
        tissue.repair_hits(dt)
        if self.steps % s.field_update_h == 0:  # slow rules, each over the whole interval
            interval = s.field_update_h
            tissue.bystander_death(self.fields.inflammation, interval)
            tissue.grow(interval)
            tissue.spontaneous_death(interval)
            tissue.clear_debris(interval)
            tissue.remodel(interval)
            self.fields.update(self.tissue, interval)

        killed = self.tissue.tumor_killed - killed_before
        self.kills_today += killed
        share_per_day = killed / max(self.tumor_cells_baseline, 1) * (24 / dt) * self.delivery.burden_share
        self.cytokine.step(share_per_day, dt)

        hours = self.steps * dt
        if hours % 24 == 0:
            self.max_daily_kill_fraction = max(self.max_daily_kill_fraction,
                                               self.kills_today / max(self.tumor_cells_baseline, 1))
            self.kills_today = 0
            self._observe()
            if s.stop_at_progression:
                self.assess()
                if schedule.progression_confirmed(self.scans):
                    self.running = False
        if hours >= s.days * 24:
            self.running = False

    def hit(self, x: int, y: int) -> bool:
        """A CAR-T cell hits the tissue cell at (x, y); if it dies (``hits_to_kill``), an
        inflammatory burst is released there. Returns True on a kill."""
        if not self.tissue.hit(x, y, self.scenario.hits_to_kill):
            return False
        self.fields.release_inflammation(x, y)
        return True

    def assess(self) -> dict:
        """Fill the calls of the scans so far (RECIST/iRECIST, or the marrow criteria); the response summary."""
        if self.response_criteria == "recist":
            return imaging.assess(self.scans, self.scenario.sd_min_days)
        return imaging.assess_marrow(self.scans, self.response_criteria)

    def tumour_share(self) -> float:
        """The patient's tumour now as a share of its burden at infusion (the lattice's tumour cells now / then).

        Blood CAR-T cells home into tumour tissue at the site's ``homing_per_day`` times this
        share: extravasation into the burden follows the tumour's vascular bed, so as the tumour
        shrinks fewer cells leave blood for it, and in remission none are lost to it (they
        recirculate; REFERENCE.md: a memory share that decays very slowly, terminal half-life
        about 220 days, Stein et al. 2019). Without it a marrow site's homing alone drained
        the blood pool with a half-life of 13 days long after the disease had gone.
        """
        return self.tissue.tumor_cells() / max(self.tumor_cells_baseline, 1)

    def antigen_load(self) -> tuple[float, float]:
        """Antigen-bearing cells (clinical counts) that the blood and the regional pool meet now.

        Blood: the target's ``normal_antigen_cells``, the product's ``companion_antigen_cells``
        (a co-infused CD19 CAR's B cells, seeds/products.toml), plus the site's ``antigen_exposure``
        x the patient's antigen-positive tumour cells; the region: the route's
        ``antigen_exposure`` x the antigen-positive cells of the tumour it reaches. The
        patient's antigen-positive cells now = its burden at infusion x the lattice's
        antigen-positive tumour cells now / at infusion, so killing and antigen escape
        lower the stimulus the pools see.
        """
        d = self.delivery
        positive_share = self.tissue.antigen_positive_cells() / max(self.positive_cells_baseline, 1)
        blood = (self.tissue.target["normal_antigen_cells"] + self.companion_antigen_cells
                 + self.tissue.site["antigen_exposure"] * d.burden_cells * positive_share)
        region = d.route.antigen_exposure * d.regional_reference * positive_share
        return blood, region

    def _enter(self, n: int, entry: str) -> None:
        """Place ``n`` arriving CAR-T cells on free entry sites; the rest wait an hour.

        An arrival at a site with suppressive myeloid cells is turned back (to wait)
        with probability ``Fields.hindrance`` there (``myeloid_block``).
        """
        n += self.backlog[entry]
        sites = self.delivery.entry_sites[entry]
        hindrance = self.fields.hindrance
        placed = 0
        if n and len(sites):
            for i in self.rng.integers(len(sites), size=4 * n):
                xy = (int(sites[i][0]), int(sites[i][1]))
                cell = self.grid[xy]
                if cell.is_empty and self.random.random() >= hindrance[xy]:
                    CARTCell(self, cell, self.scenario.divisions_max)
                    placed += 1
                    if placed == n:
                        break
        self.tcells_entered += placed
        self.backlog[entry] = n - placed

    # --- observation ----------------------------------------------------------------------
    def tcell_mask(self) -> np.ndarray:
        """Boolean lattice of sites holding a CAR-T cell."""
        mask = np.zeros(self.tissue.shape, bool)
        if len(self.agents):
            xy = np.array([a.cell.coordinate for a in self.agents])
            mask[xy[:, 0], xy[:, 1]] = True
        return mask

    def phenotype_counts(self) -> dict[Phenotype, int]:
        """CAR-T cells in the lesion per phenotype."""
        counts = dict.fromkeys(Phenotype, 0)
        for a in self.agents:
            counts[a.phenotype] += 1
        return counts

    def _observe(self) -> None:
        """Daily record (DataCollector) and, on scan days, a scan."""
        day = int(round(self.steps * self.dt_h / 24))
        apparent, viable = imaging.masks(self.tissue, self.fields, self.tcell_mask(), self.scenario)
        apparent_sites, viable_sites = imaging.lesion_diameter(apparent), imaging.lesion_diameter(viable)
        if day == 0:   # the lesion left after debulking reads the diameter of the volume left (see imaging)
            left = self.scenario.share_left_by_surgery ** (1 / 3)
            self._mm_per_site = self.scenario.lesion_diameter_mm * left / max(apparent_sites, 1.0)
        phen = self.phenotype_counts()
        tumor = self.tissue.tumor_cells()
        self.observation = {
            "day": day,
            "tumor_cells": tumor,
            "apparent_mm": apparent_sites * self._mm_per_site,
            "viable_mm": viable_sites * self._mm_per_site,
            "antigen_negative_fraction": self.tissue.antigen_negative_fraction(),
            "cart_lesion": len(self.agents),
            "cart_effector": phen[Phenotype.EFFECTOR],
            "cart_memory": phen[Phenotype.MEMORY],
            "cart_exhausted": phen[Phenotype.EXHAUSTED],
            "cart_blood": sum(blood.total for _, blood, _ in self.courses),
            "cart_region": sum(region.total for _, _, region in self.courses),
            "cytokine": self.cytokine.level,
            "tumor_killed": self.tissue.tumor_killed,
            "normal_killed": self.tissue.normal_killed,
            "density": float(np.count_nonzero(viable & apparent) / max(np.count_nonzero(apparent), 1)),
        }
        self.datacollector.collect(self)
        if schedule.is_scan_day(day, self.scenario):
            o = self.observation
            blasts = tumor / max(self.marrow_sites, 1)
            self.scans.append(Scan(day, o["apparent_mm"], o["viable_mm"], tumor, o["density"], o["cytokine"], blasts))


OBSERVED = ("day", "tumor_cells", "apparent_mm", "viable_mm", "antigen_negative_fraction", "cart_lesion",
            "cart_effector", "cart_memory", "cart_exhausted", "cart_blood", "cart_region", "cytokine", "tumor_killed",
            "normal_killed", "density")
"""Columns of the daily time series."""


def _reporter(key: str):
    return lambda model: model.observation[key]


@dataclass
class Result:
    """What a run returns: the daily time series, the scans and the summary."""

    scenario: CARTScenario
    timeseries: pd.DataFrame
    scans: pd.DataFrame
    summary: dict
    model: CARTModel


def summarize(model: CARTModel) -> dict:
    """The summary dict of a finished run (keys fixed by DESIGN.md's contract, plus extras)."""
    s = model.scenario
    ts = model.datacollector.get_model_vars_dataframe()
    response = model.assess()
    peak_row = int(ts["cart_blood"].to_numpy().argmax())
    summary = {
        "final_tumor_cells": int(model.tissue.tumor_cells()),
        **response,
        **survival.time_to_event(model.scans),
        "antigen_negative_fraction_end": round(model.tissue.antigen_negative_fraction(), 4),
        "cart_peak": float(ts["cart_blood"].iloc[peak_row]),
        "cart_peak_day": int(ts["day"].iloc[peak_row]),
        "cart_end": float(ts["cart_blood"].iloc[-1]),
        "normal_cells_killed_fraction": round(model.tissue.normal_killed / model.normal_target_cells, 4)
        if model.normal_target_cells else 0.0,
        "crs_grade": crs_grade(model.cytokine.peak),
        "seed": s.seed,
        # extras beyond the contract
        "baseline_tumor_cells": model.tumor_cells_baseline,
        "cart_lesion_peak": int(ts["cart_lesion"].max()),
        "cart_lesion_end": int(ts["cart_lesion"].iloc[-1]),
        "cytokine_peak": round(model.cytokine.peak, 3),
        "max_daily_kill_fraction": round(model.max_daily_kill_fraction, 4),
        "response_criteria": model.response_criteria,
        "infusions_given": len(model.courses),
        "days_followed": int(ts["day"].iloc[-1]),
        "target": s.target, "site": s.site, "route": s.route, "dose": s.dose, "days": s.days,
    }
    return summary


def run(scenario: CARTScenario | None = None, *, progress: bool = False, **params) -> Result:
    """Run one scenario to its horizon; ``params`` override scenario parameters.

    ``progress=True`` shows a tqdm bar on stderr (after 2 s, so short runs stay quiet).
    """
    return complete(CARTModel(scenario, **params), progress=progress)


def complete(model: CARTModel, *, progress: bool = False, after_step: Callable[[], None] | None = None) -> Result:
    """Step a model to its horizon and collect the Result.

    ``after_step``: called with no arguments after every step; an exception it raises ends the
    run there (``cartsim run`` raises a stop that Python had to swallow mid-step).
    """
    steps = int(model.scenario.days * 24 / model.dt_h) - model.steps
    with tqdm(total=steps, unit="h", desc="simulating", disable=not progress, delay=2, leave=False) as bar:
        while model.running:
            model.step()
            if after_step is not None:
                after_step()
            bar.update()
    ts = model.datacollector.get_model_vars_dataframe()
    summary = summarize(model)
    scans = pd.DataFrame([sc.as_dict() for sc in model.scans])
    return Result(model.scenario, ts, scans, summary, model)
