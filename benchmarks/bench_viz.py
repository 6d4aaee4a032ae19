"""Browser-app drawing speed: model steps drawn per second at 100x100.

    python benchmarks/bench_viz.py [--frames 40]

One frame is what the app does per Step: advance the model by ``hours_per_step`` hours
and render the lattice and time-course figures to PNG (as solara.FigureMatplotlib
does). Reports frames/s and simulated hours (model steps) drawn per second, for one
arm and for the side-by-side comparison, with hours_per_step 1 and 6. Target: >= 10
drawn steps/s. Network and browser time are not included.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from pathlib import Path

from sim.viz.app import course_figure, lattice_figure
from sim.viz.comparison import NONE, Comparison


def frame_seconds(compare: str, hours_per_step: int, frames: int) -> list[float]:
    model = Comparison(preset="gastric-peritoneal-iv", compare=compare, hours_per_step=hours_per_step)
    for _ in range(24 * 7 // hours_per_step):  # a week in: CAR-T cells on the lattice
        model.step()
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        model.step()
        for fig in (lattice_figure(model, "none"), course_figure(model)):
            fig.savefig(io.BytesIO(), format="png")
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    args = parser.parse_args()
    rows = []
    print(f"{'arms':6s} {'hours/frame':>11s} {'frames/s':>9s} {'steps/s':>8s}  target >= 10 steps/s")
    for compare in (NONE, "route:intraperitoneal"):
        for hours in (1, 6):
            per_frame = statistics.median(frame_seconds(compare, hours, args.frames))
            arms = 1 if compare == NONE else 2
            rows.append({"arms": arms, "hours_per_step": hours, "frames_per_s": round(1 / per_frame, 2),
                         "steps_per_s": round(hours / per_frame, 1), "verdict": "PASS" if hours / per_frame >= 10 else "MISS"})
            r = rows[-1]
            print(f"{arms:<6d} {hours:11d} {r['frames_per_s']:9.2f} {r['steps_per_s']:8.1f}  {r['verdict']}")
    out = Path(__file__).with_name("results_viz.json")
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
