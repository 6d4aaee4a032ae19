"""Whole-process times of the ``cartsim`` command line (medians of fresh processes).

    python benchmarks/bench_cli.py              # 7 repeats each (about 30 s on 2 cores)
    python benchmarks/bench_cli.py --repeats 3

Rows, each with its DESIGN.md target and PASS/MISS, timed from process start to exit
(interpreter start-up, imports, work, outputs written):
  * ``cartsim --help``                  target <= 0.5 s
  * ``cartsim scenarios``               target <= 0.5 s
  * ``cartsim scenarios --parameters``  target <= 0.5 s
  * ``cartsim run --out DIR`` (default scenario, 84 days, outputs and figures written)
                                        target <= 2 s
Results: benchmarks/results_cli.json (with the machine's load average: on a shared
machine other processes inflate the times). Each run also records the CPU seconds of
the process and its children (``cpu_s``; for ``run`` that includes its figure helper,
``sim/figure_worker.py``, which works on the second core in parallel): on a loaded
machine CPU time stays close to what an idle machine takes, wall time does not.
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
    ("cartsim scenarios --parameters", ["scenarios", "--parameters"], 0.5),
    ("cartsim run (default scenario, outputs written)", ["run", "--out", "{out}"], 2.0),
]


def cartsim() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m sim.cli``."""
    script = Path(sys.executable).with_name("cartsim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sim.cli"]


def time_process(args: list[str]) -> tuple[float, float]:
    """Wall seconds from start to exit of one ``cartsim`` process (in a fresh temporary folder),
    and the CPU seconds of that process and the children it waited for (the figure helper)."""
    folder = tempfile.mkdtemp(prefix="bench-cli-")
    try:
        command = [*cartsim(), *(a.format(out=os.path.join(folder, "out")) for a in args)]
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise subprocess.CalledProcessError(process.returncode, command)
        return wall, usage.ru_utime + usage.ru_stime
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
        median = statistics.median(wall for wall, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        rows.append({"row": name, "value": round(median, 3), "unit": "s", "target": f"<= {target:g} s",
                     "verdict": "PASS" if median <= target else "MISS", "runs_s": [round(w, 3) for w, _ in runs],
                     "cpu_s": round(cpu, 3), "runs_cpu_s": [round(c, 3) for _, c in runs]})
        print(f"{name:50s} {median:6.3f} s  (target <= {target:g} s)  {rows[-1]['verdict']}  CPU {cpu:.3f} s")
    machine = {"python": platform.python_version(), "machine": platform.machine(), "cores": os.cpu_count(),
               "load_average_1min_at_end": round(os.getloadavg()[0], 2)}  # other work on the machine inflates times
    (HERE / "results_cli.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
