"""Benchmark of a long virtual trial: 100 patients, 12 months, gastric CLDN18.2, 2 workers.

    python benchmarks/bench_trial.py                          # the DESIGN.md row (several minutes on 2 cores)
    python benchmarks/bench_trial.py --patients 20 --days 168 # a reduced version

Rows (wall-clock seconds of ``run_trial``, screening included):
  * today's cost: the same patients at the 84-day horizon;
  * the long horizon running every patient on to the end;
  * the long horizon with ``stop_at_progression`` (target: <= 4 min for 100 patients,
    365 days, 2 workers), and a check that stopping left every patient's time-to-event
    outcomes unchanged.
Results: benchmarks/results_trial.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
OUTCOMES = ["pfs_days", "progressed", "response_day", "dor_days", "best_response", "pseudo_progression"]
"""Per-patient outcomes that stopping at confirmed progression must not change."""
TARGET_S = 240.0
"""DESIGN.md: a 100-patient 12-month trial on 2 workers in at most 4 minutes."""


def timed_trial(scenario, patients: int, seed: int, workers: int):
    """(seconds, TrialResult) of one trial run."""
    from sim.trial import run_trial

    start = time.perf_counter()
    trial = run_trial(scenario, patients, seed=seed, workers=workers, progress=False)
    return time.perf_counter() - start, trial


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="gastric-cldn18-iv")
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results_trial.json")
    args = parser.parse_args(argv)

    from sim import load_scenario

    rows = []
    trials = {}
    for name, overrides in (("today: 84 days", {"days": 84}),
                            (f"{args.days} days, every patient run to the end", {"days": args.days}),
                            (f"{args.days} days, stop at confirmed progression",
                             {"days": args.days, "stop_at_progression": True})):
        seconds, trial = timed_trial(load_scenario(args.scenario, overrides), args.patients, args.seed, args.workers)
        treated = trial.patients[trial.patients.eligible]
        trials[name] = treated
        rows.append({"row": name, "seconds": round(seconds, 1), "patients": args.patients,
                     "treated": len(treated), "days_followed_mean": round(float(treated.days_followed.mean()), 1),
                     "pfs_median_days": trial.summary["pfs_median_days"], "orr": trial.summary["orr"]})
        print(f"{name:55s} {seconds:7.1f} s  ({len(treated)} treated, mean follow-up "
              f"{rows[-1]['days_followed_mean']:.0f} days, median PFS {trial.summary['pfs_median_days']} days)",
              flush=True)
    full, stopped = (trials[rows[i]["row"]][OUTCOMES].reset_index(drop=True) for i in (1, 2))
    same = bool(full.equals(stopped))
    rows[2]["outcomes_equal_to_running_on"] = same
    rows[2]["target"] = f"<= {TARGET_S:.0f} s for 100 patients, 365 days, 2 workers"
    rows[2]["verdict"] = ("PASS" if rows[2]["seconds"] <= TARGET_S else "MISS") \
        if (args.patients, args.days, args.workers) == (100, 365, 2) else "reduced run: no verdict"
    print(f"outcomes with stopping equal to running on: {same}; {rows[2]['verdict']}")
    result = {"machine": {"python": platform.python_version(), "machine": platform.machine(), "cores": os.cpu_count()},
              "scenario": args.scenario, "seed": args.seed, "workers": args.workers, "rows": rows}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
