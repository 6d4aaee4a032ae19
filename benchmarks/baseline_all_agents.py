"""Yardstick: the core cartsim rules written the way a Mesa user would write them first.

Every tumour and normal cell is a Mesa ``CellAgent`` with its own Python ``step``;
the fields are PropertyLayers updated with a plain explicit 5-point stencil; the
CAR-T cells follow the same hit, kill, serial-killing budget, division and walk
rules as ``sim.tcells.CARTCell``; tumour cells grow and die as ``sim.tissue``'s. It is not part of ``sim/`` and not used by it.

How it differs from cartsim (on purpose, to stay small): no imaging, scans, blood
compartment or routes beyond intravenous-like arrivals at vessels at the expected
rate of the default scenario; no debris, tissue repair, slow suppressive states or
trogocytosis recovery; one field update per hour. What it measures is the cost of per-site Python agents, the design
choice cartsim avoids for tissue.

    python benchmarks/baseline_all_agents.py --days 7     # prints seconds per simulated day
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from mesa import Model
from mesa.discrete_space import CellAgent, OrthogonalMooreGrid

from sim import CARTScenario, tables

MOORE = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


class TumourCell(CellAgent):
    """A tumour cell: dies at the loss rate, divides into a free neighbour at the growth rate,
    recovers antigen and repairs hits."""

    def __init__(self, model, cell, antigen):
        super().__init__(model)
        self.cell = cell
        self.antigen = self.setpoint = antigen
        self.damage = 0.0

    def step(self):
        m = self.model
        if self.random.random() < m.p_loss:
            self.remove()
            return
        self.antigen += (self.setpoint - self.antigen) * m.recovery
        self.damage *= m.hit_repair
        if self.random.random() < m.p_divide:
            free = [c for c in self.cell.connections.values() if not any(isinstance(a, (TumourCell, NormalCell))
                                                                        for a in c.agents)]
            if free:
                noise = math.exp(m.scenario.antigen_daughter_sigma * self.random.gauss(0, 1))
                daughter = 0.0 if self.random.random() < m.scenario.antigen_loss_probability else self.setpoint * noise
                TumourCell(m, self.random.choice(free), daughter)


class NormalCell(CellAgent):
    """A normal cell carrying the target at the normal-tissue level (does nothing by itself)."""

    def __init__(self, model, cell, antigen):
        super().__init__(model)
        self.cell = cell
        self.antigen = antigen
        self.damage = 0.0

    def step(self):
        pass


class TCell(CellAgent):
    """A CAR-T cell with cartsim's engage/kill/divide/exhaust/move rules."""

    def __init__(self, model, cell, divisions):
        super().__init__(model)
        self.cell = cell
        self.divisions = divisions
        self.exhaustion = 0.0

    def step(self):
        m, s = self.model, self.model.scenario
        if self.random.random() < m.p_death:
            self.remove()
            return
        supp = s.suppression * min(1.0, m.grid.suppression.data[self.cell.coordinate])
        targets = [a for c in (self.cell, *self.cell.connections.values()) for a in c.agents
                   if isinstance(a, (TumourCell, NormalCell)) and a.antigen >= s.activation_threshold]
        if targets and self.exhaustion < 1:
            target = max(targets, key=lambda a: a.antigen)
            a_h = target.antigen ** s.hill_coefficient
            signal = a_h / (a_h + m.affinity_h)
            self.exhaustion += signal * (1 + supp) / s.serial_killing_h
            if self.random.random() < s.hit_probability_max * signal * (1 - supp):
                target.damage += 1
                if target.damage < s.hits_to_kill:
                    return
                target.remove()
                if self.divisions > 0 and self.random.random() < s.division_probability * (1 - supp):
                    free = [c for c in self.cell.connections.values() if not any(isinstance(a, TCell) for a in c.agents)]
                    if free:
                        self.divisions -= 1
                        TCell(m, self.random.choice(free), self.divisions)
            else:
                target.antigen *= 1 - s.trogocytosis_loss
            return
        for _ in range(m.moves):
            chem = m.grid.chemokine.data
            options = list(self.cell.connections.values())
            best = max(options, key=lambda c: chem[c.coordinate])
            target = best if self.random.random() < s.chemotaxis_bias else self.random.choice(options)
            if not any(isinstance(a, TCell) for a in target.agents):
                self.cell = target


class AllAgentsModel(Model):
    """The default cartsim scenario's lesion with every cell an agent."""

    def __init__(self, scenario: CARTScenario):
        super().__init__(rng=scenario.seed)
        self.scenario = scenario
        s = scenario
        w, h = s.width, s.height
        self.grid = OrthogonalMooreGrid((w, h), torus=False, random=self.random)
        for name in ("suppression", "chemokine"):
            self.grid.create_property_layer(name, 0.0)
        target, site = tables.targets()[s.target], tables.sites()[s.site]
        radius = s.lesion_fraction * min(w, h) / 2
        self.vessels = []
        for cell in self.grid.all_cells:
            x, y = cell.coordinate
            r = math.hypot(x - (w - 1) / 2, y - (h - 1) / 2)
            if self.random.random() < site["vessel_density"]:
                self.vessels.append(cell)
            elif r < radius:
                negative = self.random.random() < s.antigen_negative_fraction
                TumourCell(self, cell, 0.0 if negative else target["density_mean"])
            elif self.random.random() < site["normal_density"]:
                NormalCell(self, cell, tables.normal_expression(s.target, s.site))
        self.p_divide = 1 - math.exp(-s.tumor_growth_rate / 24)
        self.recovery = 1 - math.exp(-s.antigen_recovery_per_day / 24)
        self.p_loss = 1 - math.exp(-s.tumor_death_rate_per_day / 24)
        self.hit_repair = math.exp(-math.log(2) / s.hit_half_life_h)
        self.p_death = 1 - math.exp(-math.log(2) / (24 * s.effector_half_life_days))
        self.affinity_h = s.car_affinity ** s.hill_coefficient
        self.moves = round(s.tcell_speed_um_per_min * 60 / 15)
        self.arrivals_per_hour = 0.5   # about the default scenario's blood supply in its second week

    def step(self):
        for _ in range(np.random.default_rng(self.steps).poisson(self.arrivals_per_hour)):
            TCell(self, self.random.choice(self.vessels), self.scenario.divisions_max)
        self.agents.shuffle_do("step")
        tumour = np.zeros(self.grid.dimensions)
        for agent in self.agents_by_type.get(TumourCell, []):
            tumour[agent.cell.coordinate] = 1.0
        for name in ("suppression", "chemokine"):
            field = self.grid._mesa_property_layers[name].data
            for _ in range(4):  # explicit diffusion sub-steps, D dt / dx^2 = 0.2
                lap = np.zeros_like(field)
                lap[1:-1, 1:-1] = (field[2:, 1:-1] + field[:-2, 1:-1] + field[1:-1, 2:] + field[1:-1, :-2]
                                   - 4 * field[1:-1, 1:-1])
                field += 0.2 * lap
            field += 0.1 * (tumour - field)


def seconds_per_day(side: int, days: int, seed: int = 0) -> float:
    """Wall seconds per simulated day (model build excluded) for a side x side lattice."""
    model = AllAgentsModel(CARTScenario(width=side, height=side, seed=seed))
    start = time.perf_counter()
    for _ in range(24 * days):
        model.step()
    return (time.perf_counter() - start) / days


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="all-agents Mesa baseline")
    parser.add_argument("--side", type=int, default=100)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    print(f"all-agents baseline, {args.side}x{args.side}: {seconds_per_day(args.side, args.days):.2f} s per simulated day")
