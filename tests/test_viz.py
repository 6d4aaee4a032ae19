"""The browser app, tested in a real (Debian) Chromium with Playwright.

Starts `cartsim viz` on a free port; checks that each visitor has a run of their
own, that the lattice and the plots render and redraw, that Reset applies a changed
control, and that no request leaves the machine and none fails (the page used to ask
for KaTeX, which solara-assets does not ship, on every load). Skipped only where no Chromium is
installed (.ci/run installs Debian's package).
"""

import re

import pytest

from conftest import experiment_module
from sim.viz.browser import CHROMIUM, choose, chromium, hours_shown, open_app, serve_app, type_in

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")


LESSON4_SEED = experiment_module("lessons").RESPONDER_SEED
"""Lesson 4's patient (docs/lessons/4-pseudo-progression.md): one who responds; the app's default (42) does not."""


@pytest.fixture(scope="module")
def server():
    with serve_app() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def image_sources(page) -> list[str]:
    return page.locator("img").evaluate_all("els => els.map(e => e.src)")


def test_each_visitor_has_their_own_run(server, browser):
    from playwright.sync_api import expect

    a, problems = open_app(browser, server)
    for _ in range(2):
        a.get_by_role("button", name="Step", exact=True).click()
    expect(a.get_by_text("Day 0 + 12 h")).to_be_visible(timeout=30_000)
    b, _ = open_app(browser, server)                       # a new visitor starts at day 0, not at A's day
    b.get_by_role("button", name="Step", exact=True).click()
    expect(b.get_by_text("Day 0 + 6 h")).to_be_visible(timeout=30_000)
    a.wait_for_timeout(500)
    assert hours_shown(a) == 12, "stepping B must not move A"
    assert hours_shown(b) == 6
    a.context.close()
    b.context.close()
    assert not problems, problems


def test_app_renders_steps_and_resets(server, browser, tmp_path):
    from playwright.sync_api import expect

    page, problems = open_app(browser, server)
    expect(page.get_by_text("CLDN18.2 / peritoneum / intravenous").first).to_be_visible()
    assert page.title() == "cartsim: CAR-T against a solid tumour"
    before = image_sources(page)
    for _ in range(5):                                   # 5 frames of 6 h: past a daily record
        page.get_by_role("button", name="Step", exact=True).click()
    expect(page.get_by_text("Day 1 + 6 h")).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1000)
    after = image_sources(page)
    assert len(after) >= 2 and after[0] != before[0] and after[1] != before[1], "lattice and plot should redraw"

    page.get_by_role("button", name="Run to next scan (day 28)").click()
    expect(page.get_by_text("Day 28 + 0 h")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("button", name="Run to next scan (day 56)")).to_be_visible(timeout=10_000)

    page.get_by_role("button", name="inflammation").click()   # field overlay toggle
    page.get_by_role("button", name="myeloid").click()        # lesson 7's overlay
    choose(page, "delivery route", "intratumoral")
    expect(page.get_by_text("press Reset to apply")).to_be_visible(timeout=10_000)
    page.get_by_role("button", name="Reset", exact=True).click()
    expect(page.get_by_text("Day 0 + 0 h")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("CLDN18.2 / peritoneum / intratumoral").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("press Reset to apply")).to_have_count(0)
    expect(page.get_by_role("button", name="myeloid")).to_have_class(re.compile("v-btn--active"))  # outlasts Reset

    page.screenshot(path=str(tmp_path / "cartsim-viz.png"), full_page=True)
    content = page.inner_text("body")
    page.context.close()
    assert (tmp_path / "cartsim-viz.png").stat().st_size > 20_000
    assert "Traceback" not in content, "the page shows a Python error"
    assert not problems, problems


def test_scans_teach_pseudo_progression(server, browser):
    """Lesson 4 with an early scan and its seed: the day-14 scan is labelled as imaging calls it, with its proxies."""
    from playwright.sync_api import expect

    page, problems = open_app(browser, server)
    for label, option in (("scenario preset", "gastric-cldn18-iv"), ("compare side by side with", "(none)"),
                          ("first follow-up scan (day)", "14"), ("then a scan every (days)", "14")):
        choose(page, label, option)
    type_in(page, "random seed", str(LESSON4_SEED))
    page.get_by_role("button", name="Reset", exact=True).click()
    page.get_by_role("button", name="Run to next scan (day 14)").click()
    expect(page.get_by_text("Day 14 + 0 h")).to_be_visible(timeout=60_000)
    row = page.locator("table.scans tr").nth(2)              # header, baseline, day 14
    expect(row).to_contain_text("iUPD pseudo?", timeout=10_000)
    cells = row.locator("td").all_inner_texts()
    assert cells[1] == "14" and cells[4] == "PD" and cells[6].endswith("%"), cells
    baseline = page.locator("table.scans tr").nth(1).locator("td").all_inner_texts()
    assert int(cells[3]) <= int(baseline[3]), "pseudo? only where the viable lesion has not grown since its nadir"
    page.get_by_role("button", name="Run to next scan (day 28)").click()
    expect(page.locator("table.scans tr").nth(3)).to_contain_text("iPR", timeout=60_000)
    page.context.close()
    assert not problems, problems


def test_run_controls_stop_at_the_horizon(server, browser):
    """Stepping onto the last day disables what would advance the run (Step, play, Jump); Reset stays."""
    from playwright.sync_api import expect

    page, problems = open_app(browser, server)
    for label, option in (("compare side by side with", "(none)"), ("first follow-up scan (day)", "21"),
                          ("then a scan every (days)", "14")):   # scans on days 21, 35, ..., 77: none on day 84
        choose(page, label, option)
    page.get_by_role("button", name="Reset", exact=True).click()
    step = page.get_by_role("button", name="Step", exact=True)
    type_in(page, "day", "83")
    page.get_by_role("button", name="Jump to day").click()
    expect(page.get_by_text("Day 83 + 0 h")).to_be_visible(timeout=90_000)
    for hours in (6, 12, 18, 24):                               # 6 h frames onto the horizon, day 84
        expect(step).to_be_enabled(timeout=10_000)
        step.click()
        expect(page.get_by_text(f"Day {83 + hours // 24} + {hours % 24} h")).to_be_visible(timeout=10_000)
    expect(step).to_be_disabled(timeout=10_000)
    expect(page.get_by_role("button", name="▶ play")).to_be_disabled()
    expect(page.get_by_role("button", name="Jump to day")).to_be_disabled()
    expect(page.get_by_role("button", name="Reset", exact=True)).to_be_enabled()
    page.context.close()
    assert not problems, problems
