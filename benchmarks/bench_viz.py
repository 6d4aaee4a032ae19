"""Browser-app playback speed: frames drawn per second in Chromium at 100x100.

    python benchmarks/bench_viz.py [--runs 3] [--seconds 8]

Serves `cartsim viz`, opens it in Debian's Chromium (Playwright), presses Reset and
play, and records in the page every new time shown (one per drawn frame: the time,
the lattices and the course are drawn in one render) for ``--seconds``; then pauses. Reports the
median over ``--runs`` runs of frames drawn per second (frames between the first
and last recorded, over that time) and of simulated hours per second, and counts
skipped frames (shown times not ``hours per frame`` apart). One arm and two arms
(the default comparison), 6 and 1 hours per frame. Target: >= 10 frames/s with
two arms. Writes benchmarks/results_viz.json (with the machine's load average: the
machine is shared, and a busy one draws fewer frames).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

from sim.viz.browser import DAY, choose, chromium, open_app, serve_app
from sim.viz.comparison import NONE

RECORDER = """() => {
    if (window.recorder) window.recorder.disconnect();
    window.frames_seen = [];
    const dayText = () => [...document.querySelectorAll('*')].find(
        e => e.children.length === 0 && /^Day \\d+ \\+ \\d+ h$/.test(e.textContent));
    let last = dayText().textContent;
    window.recorder = new MutationObserver(() => {
        const shown = dayText();           // absent for a moment while Reset swaps the widgets
        if (!shown) return;
        const day = shown.textContent;
        if (day !== last) { window.frames_seen.push([performance.now(), day]); last = day; }
    });
    window.recorder.observe(document.body, {childList: true, characterData: true, subtree: true});
}"""
"""Records, in the page, each new day shown (a frame: the day, lattices and course are drawn together)."""


def set_hours_per_frame(page, hours: int) -> None:
    """Move the hours-per-frame slider with the keyboard (default 6)."""
    slider = page.get_by_role("slider")
    slider.focus()
    for _ in range(abs(hours - 6)):
        slider.press("ArrowLeft" if hours < 6 else "ArrowRight")
    page.get_by_text(f"hours per frame: {hours}").wait_for(timeout=10_000)


def one_run(page, hours: int, seconds: float) -> dict:
    """Reset, play for ``seconds``, pause; frames/s, simulated hours/s and skipped frames."""
    page.get_by_role("button", name="Reset", exact=True).click()
    page.get_by_text("Day 0 + 0 h").wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    page.evaluate(RECORDER)
    page.get_by_role("button", name="▶ play").click()
    page.wait_for_timeout(1000 * seconds)
    page.get_by_role("button", name="❚❚ pause").click()
    frames = page.evaluate("window.frames_seen")
    shown = [24 * int(d) + int(h) for d, h in (DAY.match(text).groups() for _, text in frames)]
    span_s = (frames[-1][0] - frames[0][0]) / 1000
    steps = [b - a for a, b in zip(shown, shown[1:])]
    return {"frames_per_s": (len(frames) - 1) / span_s, "hours_per_s": (shown[-1] - shown[0]) / span_s,
            "skipped": sum(step != hours for step in steps), "frames": len(frames)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    rows = []
    print(f"{'arms':5s} {'hours/frame':>11s} {'frames/s':>9s} {'sim h/s':>8s} {'skipped':>8s}  target >= 10 frames/s")
    with serve_app() as url, chromium() as browser:
        for compare, hours in ((NONE, 6), ("route:intraperitoneal", 6), ("route:intraperitoneal", 1)):
            page, problems = open_app(browser, url)
            if compare == NONE:
                choose(page, "compare side by side with", NONE)
            set_hours_per_frame(page, hours)
            runs = [one_run(page, hours, args.seconds) for _ in range(args.runs)]
            page.context.close()
            fps = statistics.median(r["frames_per_s"] for r in runs)
            rows.append({"arms": 1 if compare == NONE else 2, "hours_per_frame": hours,
                         "frames_per_s": round(fps, 1),
                         "sim_hours_per_s": round(statistics.median(r["hours_per_s"] for r in runs), 1),
                         "skipped_frames": sum(r["skipped"] for r in runs),
                         "frames_recorded": sum(r["frames"] for r in runs), "runs": args.runs,
                         "seconds_per_run": args.seconds, "verdict": "PASS" if fps >= 10 else "MISS",
                         "page_problems": problems, "load_average_1min": round(os.getloadavg()[0], 1)})
            r = rows[-1]
            print(f"{r['arms']:<5d} {hours:11d} {fps:9.1f} {r['sim_hours_per_s']:8.1f} {r['skipped_frames']:8d}  "
                  f"{r['verdict']}")
    out = Path(__file__).with_name("results_viz.json")
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
