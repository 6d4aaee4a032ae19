"""Whole-process times of the ``cartsim`` command line (medians of fresh processes).

    python benchmarks/bench_cli.py              # 7 repeats each (about 30 s on 2 cores)
    python benchmarks/bench_cli.py --repeats 3

Rows, each with its DESIGN.md target and PASS/MISS, timed from process start to exit
(interpreter start-up, imports, work, outputs written):
  * ``cartsim --help``                  target <= 0.5 s
  * ``cartsim scenarios``               target <= 0.5 s
  * ``cartsim run --out DIR`` (default scenario, 84 days, outputs and figures written)
                                        target <= 2 s
Results: benchmarks/results_cli.json (with the machine's load average: on a shared
machine other processes inflate the times).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
ROWS = [
    ("cartsim --help", ["--help"], 0.5),
    ("cartsim scenarios", ["scenarios"], 0.5),
    ("cartsim run (default scenario, outputs written)", ["run", "--out", "{out}"], 2.0),
]


def cartsim() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m sim.cli``."""
    script = Path(sys.executable).with_name("cartsim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sim.cli"]


def time_process(args: list[str]) -> float:
    """Seconds from start to exit of one ``cartsim`` process (in a fresh temporary folder)."""
    folder = tempfile.mkdtemp(prefix="bench-cli-")
    try:
        command = [*cartsim(), *(a.format(out=os.path.join(folder, "out")) for a in args)]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rows = []
    for name, argv, target in ROWS:
        time_process(argv)  # warm the file cache once
        runs = [time_process(argv) for _ in range(args.repeats)]
        median = statistics.median(runs)
        rows.append({"row": name, "value": round(median, 3), "unit": "s", "target": f"<= {target:g} s",
                     "verdict": "PASS" if median <= target else "MISS", "runs_s": [round(r, 3) for r in runs]})
        print(f"{name:50s} {median:6.3f} s  (target <= {target:g} s)  {rows[-1]['verdict']}")
    machine = {"python": platform.python_version(), "machine": platform.machine(), "cores": os.cpu_count(),
               "load_average_1min_at_end": round(os.getloadavg()[0], 2)}  # other work on the machine inflates times
    (HERE / "results_cli.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
