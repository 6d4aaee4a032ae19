"""Benchmarks of cartsim (medians of repeated runs, each in a fresh process).

    python benchmarks/bench.py            # full table (about 15-25 minutes on 2 cores)
    python benchmarks/bench.py --quick    # short horizons; for CI and a first look

Rows, each with its DESIGN.md target and PASS/MISS:
  * default scenario 100x100 and 200x200, 84 days (targets 2 s and 10 s);
  * 1000x1000 lattice, 84 days (target 10 min and 4 GiB peak RSS); --quick runs 7 days
    and reports the time extrapolated to 84 days;
  * ratio of cartsim's seconds per simulated day to the all-agents Mesa baseline
    (benchmarks/baseline_all_agents.py) on the same scenario and seed (target >= 10x);
and the scaling of seconds per simulated day with lattice side and with the number of
CAR-T agents, plotted log-log to benchmarks/scaling.png. Results: benchmarks/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def measure(side: int, days: int, seed: int, dose: float | None = None, baseline: bool = False) -> dict:
    """One run in this process: seconds (with model building), stepping seconds alone,
    simulated days, CAR-T agent-steps, peak RSS (MiB)."""
    from sim import CARTModel, CARTScenario

    params = {"width": side, "height": side, "days": days, "seed": seed}
    if dose is not None:
        params["dose"] = dose
    start = time.perf_counter()
    if baseline:
        sys.path.insert(0, str(HERE))
        from baseline_all_agents import AllAgentsModel

        model = AllAgentsModel(CARTScenario(**params))
    else:
        model = CARTModel(**params)
    built = time.perf_counter()
    agent_steps = 0
    for _ in range(24 * days):
        agent_steps += len(model.agents)
        model.step()
    end = time.perf_counter()
    return {"seconds": end - start, "step_seconds": end - built, "days": days, "agent_steps": agent_steps,
            "peak_rss_mib": _rss_mib()}


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_subprocess(**kwargs) -> dict:
    """``measure`` in a fresh Python process (clean memory high-water mark)."""
    out = subprocess.run([sys.executable, __file__, "--one", json.dumps(kwargs)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.splitlines()[-1])


def median_of(repeats: int, **kwargs) -> dict:
    runs = [in_subprocess(**kwargs, seed=seed) for seed in range(repeats)]
    out = {k: statistics.median(r[k] for r in runs) for k in ("seconds", "step_seconds", "agent_steps", "peak_rss_mib")}
    out["days"] = kwargs["days"]
    out["runs_s"] = [round(r["seconds"], 3) for r in runs]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short horizons (7 days) for the large rows")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(**json.loads(args.one))))
        return
    rows = []

    def row(name, result, value, target, unit, passed):
        rows.append({"row": name, "value": round(value, 3), "unit": unit, "target": target,
                     "verdict": "PASS" if passed else "MISS", **{k: v for k, v in result.items() if k != "days"}})
        print(f"{name:44s} {value:10.2f} {unit:6s} target {target:>10s}  {rows[-1]['verdict']}", flush=True)

    for side, target in ((100, 2.0), (200, 10.0)):
        r = median_of(args.repeats, side=side, days=84)
        row(f"default scenario {side}x{side}, 84 days", r, r["seconds"], f"<= {target:g} s", "s", r["seconds"] <= target)
    big_days = 7 if args.quick else 84
    r = median_of(1, side=1000, days=big_days)
    minutes = r["seconds"] * 84 / big_days / 60
    row(f"1000x1000, 84 days{' (from 7 days)' if args.quick else ''}", r, minutes, "<= 10 min", "min", minutes <= 10)
    row("1000x1000, peak memory", r, r["peak_rss_mib"] / 1024, "<= 4 GiB", "GiB", r["peak_rss_mib"] <= 4096)
    ratio_days = 7 if args.quick else 14
    ours = median_of(args.repeats, side=100, days=ratio_days)
    base = median_of(args.repeats, side=100, days=ratio_days, baseline=True)
    ratio = base["step_seconds"] / ours["step_seconds"]  # stepping only: both build their lattice once
    row(f"all-agents baseline / cartsim, 100x100 {ratio_days} d", base, ratio, ">= 10x", "x", ratio >= 10)

    scaling = []
    for side in (100, 200, 400, 1000):
        r = median_of(1, side=side, days=3)
        scaling.append({"kind": "side", "side": side, "s_per_day": r["seconds"] / 3, "agent_steps": r["agent_steps"]})
    for dose in (1e8, 1e9, 1e10):
        r = median_of(1, side=100, days=14, dose=dose)
        scaling.append({"kind": "agents", "dose": dose, "s_per_day": r["seconds"] / 14,
                        "mean_agents": r["agent_steps"] / (14 * 24)})
    _plot(scaling)
    machine = {"python": platform.python_version(), "machine": platform.machine(), "cores": os.cpu_count(),
               "load_average_1min_at_end": round(os.getloadavg()[0], 2)}  # other work on the machine inflates times
    (HERE / "results.json").write_text(json.dumps({"machine": machine, "quick": args.quick, "rows": rows,
                                                   "scaling": scaling}, indent=2) + "\n")
    print(f"written to {HERE / 'results.json'} and {HERE / 'scaling.png'}")


def _plot(scaling: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    sides = [s for s in scaling if s["kind"] == "side"]
    a.loglog([s["side"] ** 2 for s in sides], [s["s_per_day"] for s in sides], "o-")
    a.set_xlabel("lattice sites")
    a.set_ylabel("seconds per simulated day")
    a.set_title("cost vs lattice size (default scenario)")
    agents = [s for s in scaling if s["kind"] == "agents"]
    b.loglog([max(s["mean_agents"], 1e-1) for s in agents], [s["s_per_day"] for s in agents], "o-")
    b.set_xlabel("mean CAR-T agents on the lattice (dose varied)")
    b.set_ylabel("seconds per simulated day")
    b.set_title("cost vs CAR-T agents (100x100, 14 days)")
    fig.tight_layout()
    fig.savefig(HERE / "scaling.png", dpi=110)


if __name__ == "__main__":
    main()
