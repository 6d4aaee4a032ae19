"""Sweep throughput: runs per second with 1 and 2 local workers and a Dask LocalCluster.

    python benchmarks/bench_sweep.py [--runs 16] [--repeats 3]

Each measurement runs the same sweep (default preset at 60x60, 56 days, ``--runs``
replicates) into a fresh folder; medians of ``--repeats``. The speed-up target for
2 workers is >= 1.8x (issue: sweeps). Results go to benchmarks/results_sweep.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from sim.sweep import load_sweep, run_sweep

SWEEP = """
base = "gastric-cldn18-iv"
replicates = {runs}
seed = 1
[set]
width = 60
height = 60
days = 56
"""


def throughput(path: Path, backend: str, workers: int) -> float:
    """Runs per second for one execution of the sweep (start-up of the pool or cluster included)."""
    sweep = load_sweep(path)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run_sweep(sweep, Path(tmp) / "o", backend=backend, workers=workers, progress=False)
        return sweep.n_runs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(SWEEP.format(runs=args.runs))
        rows = {}
        for label, backend, workers in [("local, 1 worker", "local", 1), ("local, 2 workers", "local", 2),
                                        ("dask LocalCluster, 2 workers", "dask", 2)]:
            rows[label] = statistics.median(throughput(path, backend, workers) for _ in range(args.repeats))
    base = rows["local, 1 worker"]
    print(f"{'backend':32s} {'runs/s':>7} {'speed-up':>9}")
    for label, rate in rows.items():
        print(f"{label:32s} {rate:7.2f} {rate / base:8.2f}x")
    verdict = "PASS" if rows["local, 2 workers"] / base >= 1.8 else "MISS"
    print(f"target: 2 local workers >= 1.8x one worker: {verdict}")
    out = Path(__file__).with_name("results_sweep.json")
    out.write_text(json.dumps({"runs": args.runs, "runs_per_s": rows,
                               "speedup_2_workers": rows["local, 2 workers"] / base, "verdict": verdict}, indent=2) + "\n")


if __name__ == "__main__":
    main()
