"""CAR-T cells: lean Mesa agents in the lesion, and the blood compartment as counts.

In the lesion each :class:`CARTCell` is a Mesa ``CellAgent`` on the model's
``OrthogonalMooreGrid`` (one CAR-T cell per site; it shares the site with the
tissue cell it crawls over). It reads the tissue and field arrays at its site
and its 8 neighbours (Mesa's precomputed ``cell.connections``) and writes only
the site it kills. Outside the lesion, :class:`CARTPool` holds infused cells
as numbers (blood, and the region a regional route fills): expansion,
contraction, memory, and entry into tumour tissue.
"""

from __future__ import annotations

import numpy as np
from mesa.discrete_space import CellAgent

from sim import tables
from sim.phenotype import Phenotype
from sim.tissue import MOORE_OFFSETS


class CARTCell(CellAgent):
    """One CAR-T cell in the lesion.

    State: ``phenotype``, ``stimulations`` (engagements so far), ``kills``,
    ``divisions_left``, ``exhaustion`` (exhausted at 1), ``age_h``.

    Each hourly step, in random order over all CAR-T cells:
      1. die with the phenotype's hourly probability (``*_half_life_days``);
      2. engage an adjacent cell carrying antigen (``engage``); on a kill,
         maybe divide (``divide``);
      3. otherwise effectors may become memory (``memory_after_days``); effector
         and exhausted cells move (``move``), memory cells stay where they are as
         tissue-resident sentinels and re-activate when antigen comes within reach.
    """

    def __init__(self, model, cell, divisions_left: int, exhaustion: float = 0.0,
                 phenotype: Phenotype = Phenotype.EFFECTOR):
        super().__init__(model)
        self.cell = cell
        self.phenotype = phenotype
        self.divisions_left = divisions_left
        self.exhaustion = exhaustion
        self.stimulations = 0
        self.kills = 0
        self.age_h = 0

    def step(self) -> None:
        """One hour of a CAR-T cell's life (see the class docstring)."""
        m = self.model
        self.age_h += 1
        if self.random.random() < m.death_probability[self.phenotype]:
            self.die()
            return
        if self.phenotype != Phenotype.EXHAUSTED and self.engage():
            return
        if self.phenotype == Phenotype.EFFECTOR and self.random.random() < m.memory_probability:
            self.phenotype = Phenotype.MEMORY
        if self.phenotype != Phenotype.MEMORY:
            self.move()

    def engage(self) -> bool:
        """Engage one adjacent antigen-bearing cell; return True if one was in reach.

        Finite, cooperative killing (REFERENCE.md: Halle et al. 2016; Davenport et al. 2015).
        The target is the cell with the most antigen among the one under this cell and
        its 8 neighbours (tumour or normal: on-target, off-tumour), if its density A
        reaches ``activation_threshold``. One engaged hour delivers a hit with
        probability ``hit_probability_max * A^h / (A^h + K^h) * (1 - inhibition)``
        (``hill_coefficient`` h, ``car_affinity`` K, inhibition from
        :attr:`sim.microenv.Fields.inhibition`); hits add up in the target, which dies at
        ``hits_to_kill`` (``Tissue.hit``), so several CAR-T cells can share one kill.
        Every engaged hour spends 1/``serial_killing_h`` of the cell's serial-killing
        budget, times the CAR signal A^h / (A^h + K^h) and (1 + inhibition): at 1 the
        cell is exhausted, whether its targets were tumour or normal cells. A target that is not hit loses
        ``trogocytosis_loss`` of its antigen (trogocytosis, down-regulation). A kill
        triggers a division (``divide``) with probability
        ``division_probability * (1 - inhibition) * tcell_fitness``: the product's fitness sets how
        well its cells expand on antigen, not how hard each one kills (Fraietta et al. 2018).
        A contact without a hit holds the cell for the hour only with the chance of its signal
        (a stable synapse); otherwise it is a kinapse and the cell walks on (returns False):
        weak stimulation does not arrest T cells (Moreau et al., Immunity 2012), and CAR-T cells
        in marrow detach within minutes from contacts that raise no signal or kill (Cazaux et
        al., J Exp Med 2019). No parameter of its own: the signal above sets it.
        """
        m = self.model
        s = m.scenario
        antigen = m.tissue.antigen_view
        cell = self.cell
        target = cell.coordinate
        best = antigen[target]
        for c in cell.connections.values():
            a = antigen[c.coordinate]
            if a > best:
                best, target = a, c.coordinate
        if best < s.activation_threshold:
            return False
        inhibition = m.fields.inhibition_view[cell.coordinate]
        self.phenotype = Phenotype.EFFECTOR
        self.stimulations += 1
        a_h = best ** s.hill_coefficient
        signal = a_h / (a_h + m.affinity_h)
        self.exhaustion += m.exhaustion_per_h * signal * (1 + inhibition)
        p_hit = s.hit_probability_max * signal * (1 - inhibition)
        if self.random.random() < p_hit:
            if m.hit(*target):
                self.kills += 1
                if self.divisions_left > 0 and \
                        self.random.random() < s.division_probability * (1 - inhibition) * s.tcell_fitness:
                    self.divide()
        else:
            antigen[target] = antigen[target] * m.antigen_kept_per_contact
            if self.exhaustion < 1 and self.random.random() >= signal:
                return False
        if self.exhaustion >= 1:
            self.phenotype = Phenotype.EXHAUSTED
        return True

    def divide(self) -> None:
        """Antigen-driven division into a free neighbouring site (``divisions_max``)."""
        free = [c for c in self.cell.connections.values() if c.is_empty]
        if not free:
            return
        self.divisions_left -= 1
        CARTCell(self.model, self.random.choice(free), self.divisions_left, self.exhaustion)
        self.model.tcells_born += 1

    def move(self) -> None:
        """Biased random walk: up to ``moves_per_step`` unit moves, slowed by stroma and myeloid cells.

        Each move goes up the chemokine gradient with probability
        ``chemotaxis_bias``, else to a random Moore neighbour. A move into an
        occupied site (another CAR-T cell) or off the lattice fails; one into
        stroma of density d fails with probability ``d * stroma_block``. Where
        suppressive myeloid cells sit, a share :attr:`sim.microenv.Fields.hindrance`
        of the hour's moves is lost (``myeloid_block``).
        """
        m = self.model
        uphill, blocked = m.fields.uphill, m.move_block
        bias = m.scenario.chemotaxis_bias
        rand = self.random.random
        start = cell = self.cell
        moves = m.moves_per_step * (1 - m.fields.hindrance_view[cell.coordinate])
        for _ in range(int(moves + rand())):
            d = uphill(*cell.coordinate) if rand() < bias else -1
            if d < 0:
                d = int(rand() * 8)
            target = cell.connections.get(MOORE_OFFSETS[d])
            if target is None or (target is not start and not target.is_empty):
                continue
            if target.coordinate in blocked and rand() < blocked[target.coordinate]:
                continue
            cell = target
        if cell is not start:  # the Mesa grid is updated once, at the end of the walk
            self.cell = cell

    def die(self) -> None:
        """Remove the cell from the lattice and the model."""
        self.model.tcells_died += 1
        self.remove()


class CARTPool:
    """CAR-T cells outside the lattice, as counts (clinical units): blood, or the
    region a regional route fills (peritoneal cavity, liver, CSF, injection site).

    Antigen-driven expansion with the phases of the tisagenlecleucel kinetic model
    (Stein et al., CPT Pharmacometrics Syst Pharmacol 2019; REFERENCE.md blood
    kinetics): until ``expansion_days`` (Tmax) effectors E grow at

        dE/dt = rho * L / (L + K + E_all) * E

    where rho = ``expansion_rate_per_day`` (times ``lymphodepletion_expansion_factor``
    after lymphodepletion, times the product's ``expansion_factor``, divided by 1 + M for the
    tumour-raised circulating suppressive myeloid cells given at construction,
    :func:`sim.microenv.circulating_myeloid`), L is the
    antigen-bearing cells the pool meets (given to :meth:`step`; see
    ``CARTModel.antigen_load``), K = ``expansion_half_saturation_cells`` and E_all the
    effectors of every infusion's pool in the compartment, which compete for L. This is
    the Beddington-DeAngelis stimulation: with antigen plentiful (L >> K, E: CD19 disease
    with its normal B cells) cells expand at nearly rho until they outnumber their
    antigen, so the peak follows antigen and not dose (REFERENCE.md: tisagenlecleucel's
    peak does not track dose over a 25-fold range); with antigen scarce (L < K: a solid
    lesion that blood cells barely meet) every cell is stimulated less often, expansion
    is slow and the peak scales with dose (REFERENCE.md: expansion faster and larger in
    haematologic than solid tumours). After Tmax effectors contract at
    ``contraction_rate_per_day`` while ``memory_conversion_per_day`` of them become
    memory, which decays at ``memory_decay_per_day`` (divided by the product's
    ``persistence_factor``). Cells leave the pool into tumour tissue at a rate per day
    given to :meth:`step` (blood: the site's ``homing_per_day`` times the share of the
    patient's tumour still there, ``CARTModel.tumour_share``; a region: the route's
    ``entry_per_day``). Blood cells are also taken up by target-bearing normal tissue
    outside the lesion at the target's ``normal_tissue_uptake_per_day`` (EGFR on skin,
    lung and gut epithelium: on-target, off-tumour sequestration, where they kill normal
    cells instead of reaching the tumour). The ledger (``infused``, ``expanded``,
    ``died``, ``exited``, ``taken_up``) accounts for every cell: infused + expanded -
    died - exited - taken_up = in the pool.
    """

    def __init__(self, scenario, circulating_myeloid: float = 0.0):
        s = scenario
        self.scenario = s
        product = tables.products()[s.product]
        self.effector = 0.0
        self.memory = 0.0
        self.rho = (s.expansion_rate_per_day * (s.lymphodepletion_expansion_factor if s.lymphodepletion else 1.0)
                    * product["expansion_factor"] / (1 + circulating_myeloid))
        self.memory_decay = s.memory_decay_per_day / product["persistence_factor"]
        self.infused = self.expanded = self.died = self.exited = self.taken_up = 0.0

    @property
    def total(self) -> float:
        """CAR-T cells in the pool now (effector + memory)."""
        return self.effector + self.memory

    def infuse(self, cells: float) -> None:
        """Cells entering the pool (infusion, or leak from a cavity)."""
        self.effector += cells
        self.infused += cells

    def step(self, day: float, dt_h: float, exit_per_day: float, antigen_cells: float,
             uptake_per_day: float = 0.0, competing_effectors: float | None = None) -> float:
        """Advance ``dt_h`` hours at ``day`` after infusion; return the cells that left into tumour tissue.

        ``antigen_cells``: antigen-bearing cells (tumour and normal) the compartment's pools meet now;
        ``uptake_per_day``: rate of uptake into target-bearing normal tissue (1/day);
        ``competing_effectors``: effectors of all pools in the compartment (this pool's own if None).
        """
        s, dt = self.scenario, dt_h / 24
        e, mem = self.effector, self.memory
        if day < s.expansion_days:
            competing = e if competing_effectors is None else competing_effectors
            stimulated = (antigen_cells / (antigen_cells + s.expansion_half_saturation_cells + competing)
                          if e > 0 else 0.0)
            grown = e * np.expm1(self.rho * stimulated * dt)
            self.expanded += grown
            e += grown
        else:
            out = s.contraction_rate_per_day + s.memory_conversion_per_day
            beta = self.memory_decay
            e_new = e * np.exp(-out * dt)
            if abs(out - beta) > 1e-12:  # exact solution of the linear two-state system
                converted = s.memory_conversion_per_day * e * (np.exp(-beta * dt) - np.exp(-out * dt)) / (out - beta)
            else:
                converted = s.memory_conversion_per_day * e * dt * np.exp(-beta * dt)
            mem_new = mem * np.exp(-beta * dt) + converted
            self.died += (e + mem) - (e_new + mem_new)
            e, mem = e_new, mem_new
        leave = exit_per_day + uptake_per_day
        share = -np.expm1(-leave * dt)
        gone = (e + mem) * share
        exited = gone * exit_per_day / leave if leave > 0 else 0.0
        self.exited += exited
        self.taken_up += gone - exited
        self.effector, self.memory = e * (1 - share), mem * (1 - share)
        return exited
