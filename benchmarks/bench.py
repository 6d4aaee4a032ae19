"""Time cartsim on the default scenario: 100x100 and 200x200 lattices, 84 days.

    python benchmarks/bench.py [--repeats 3] [--days 84]

Prints, per lattice size, the median wall time of >= 3 runs, seconds per
simulated day, CAR-T agent-steps per second, and the DESIGN.md target
(100x100: <= 2 s; 200x200: <= 10 s) with PASS/MISS. Writes the figures to
benchmarks/results.json. Timing is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from sim import CARTModel

TARGETS_S = {100: 2.0, 200: 10.0}


def time_run(side: int, days: int, seed: int) -> tuple[float, int]:
    """Seconds for one run (model build included) and the CAR-T agent-steps it made."""
    start = time.perf_counter()
    model = CARTModel(width=side, height=side, days=days, seed=seed)
    agent_steps = 0
    while model.running:
        agent_steps += len(model.agents)
        model.step()
    return time.perf_counter() - start, agent_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--days", type=int, default=84)
    args = parser.parse_args()
    rows = []
    print(f"{'lattice':>9} {'median s':>9} {'s/day':>7} {'agent-steps/s':>14} {'target':>8}  verdict")
    for side, target in TARGETS_S.items():
        runs = [time_run(side, args.days, seed) for seed in range(args.repeats)]
        seconds = statistics.median(t for t, _ in runs)
        rate = statistics.median(n / t for t, n in runs)
        scaled_target = target * args.days / 84
        verdict = "PASS" if seconds <= scaled_target else "MISS"
        rows.append({"lattice": f"{side}x{side}", "days": args.days, "median_s": round(seconds, 3),
                     "s_per_day": round(seconds / args.days, 4), "agent_steps_per_s": round(rate),
                     "target_s": scaled_target, "verdict": verdict, "runs_s": [round(t, 3) for t, _ in runs]})
        print(f"{side:>4}x{side:<4} {seconds:9.2f} {seconds / args.days:7.3f} {rate:14,.0f} {scaled_target:7.1f}s  {verdict}")
    machine = {"python": platform.python_version(), "machine": platform.machine(), "cores": os.cpu_count()}
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
