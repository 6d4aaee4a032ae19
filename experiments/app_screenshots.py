"""Screenshots of the browser app, one per lesson plus the README's, made by following each
lesson's "In the app" steps in Debian's Chromium (so the pictures show what a class sees).

    python experiments/app_screenshots.py [--out docs/lessons/figures]

Writes ``app-lesson1.png`` ... ``app-lesson7.png`` to ``--out`` and ``docs/figures/viz.png``
(lesson 2's: the default view at day 21). About two minutes.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from lessons import RESPONDER_SEED, SEED
from sim.viz.browser import choose, chromium, open_app, serve_app, type_in

ROOT = Path(__file__).parents[1]
LESSONS = {
    "app-lesson1.png": ({"scenario preset": "ball-cd19-iv", "compare side by side with": "(none)"}, SEED, 42, "none"),
    "app-lesson2.png": ({}, SEED, 21, "none"),
    "app-lesson3.png": ({"scenario preset": "gastric-cldn18-iv", "compare side by side with": "(none)",
                         "delivery route": "intratumoral", "dose (CAR-T cells)": "1e9",
                         "antigen-negative share at start": "0.1"}, SEED, 84, "none"),
    "app-lesson4.png": ({"scenario preset": "gastric-cldn18-iv", "compare side by side with": "(none)",
                         "first follow-up scan (day)": "14", "then a scan every (days)": "14"}, RESPONDER_SEED,
                        14, "edema"),
    "app-lesson5.png": ({"scenario preset": "hcc-gpc3-iv", "compare side by side with": "target:EGFR",
                         "delivery route": "intratumoral", "dose (CAR-T cells)": "1e9",
                         "CAR affinity K (lower = higher affinity)": "0.05"},
                        SEED, 21, "none"),
    "app-lesson6.png": ({"scenario preset": "gastric-peritoneal-ip", "compare side by side with": "route:intravenous"},
                        RESPONDER_SEED, 84, "none"),
    "app-lesson7.png": ({"scenario preset": "gastric-cldn18-iv", "compare side by side with": "(none)",
                         "debulking surgery (share removed)": "0.5"}, SEED, 28, "myeloid"),
}
"""File -> (controls to set, random seed, day to jump to, field overlay): each lesson's "In the app" setting."""


def screenshot(browser, url: str, controls: dict[str, str], seed: int, day: int, field: str, path: Path) -> None:
    """Set the controls and the seed, Reset, jump to ``day``, show ``field``, save a full-page screenshot."""
    page, problems = open_app(browser, url, viewport=(1500, 2150))   # tall: the page scrolls inside
    for label, option in controls.items():
        choose(page, label, option)
    type_in(page, "random seed", str(seed))
    page.get_by_role("button", name="Reset", exact=True).click()
    page.get_by_text("Day 0 + 0 h").wait_for(timeout=60_000)
    page.get_by_label("day", exact=True).fill(str(day))
    page.get_by_role("button", name="Jump to day").click()
    page.get_by_text(f"Day {day} + 0 h").wait_for(timeout=180_000)
    if field != "none":
        page.get_by_role("button", name=field).click()
    page.wait_for_timeout(1500)
    page.screenshot(path=str(path), full_page=True)
    page.context.close()
    if problems:
        raise RuntimeError(f"{path.name}: {problems}")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "lessons" / "figures")
    args = parser.parse_args()
    with serve_app() as url, chromium() as browser:
        for name, (controls, seed, day, field) in LESSONS.items():
            screenshot(browser, url, controls, seed, day, field, args.out / name)
    shutil.copyfile(args.out / "app-lesson2.png", ROOT / "docs" / "figures" / "viz.png")  # the default view


if __name__ == "__main__":
    main()
