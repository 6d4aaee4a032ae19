"""The browser app, tested in a real (Debian) Chromium with Playwright.

Starts `cartsim viz` on a free port; checks that each visitor has a run of their
own, that the lattice and the plots render and redraw, that Reset applies a changed
control, and that no request leaves the machine and none fails (the page used to ask
for KaTeX, which solara-assets does not ship, on every load). Skipped only where no Chromium is
installed (.ci/run installs Debian's package).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "viz", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("cartsim viz did not answer within 90 s")
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def open_app(browser, url):
    """A fresh visitor (own browser context) with the page loaded; returns (page, problems).

    Problems: script errors in the page, any request to a host other than the app's (the
    app must work offline) and any HTTP error response (a 404 is an asset the page misses).
    """
    page = browser.new_context(viewport={"width": 1500, "height": 1100}).new_page()
    errors = []
    local = url.rstrip("/")
    page.on("pageerror", lambda err: errors.append(f"script error: {err}"))
    page.on("request", lambda req: req.url.startswith((local, "data:", "blob:"))
            or errors.append(f"request leaves the machine: {req.url}"))
    page.on("response", lambda res: res.status < 400 or errors.append(f"HTTP {res.status}: {res.url}"))
    page.goto(url)
    page.get_by_text("Day 0 + 0 h").wait_for(timeout=90_000)
    page.wait_for_function("document.querySelectorAll('img').length >= 2", timeout=90_000)
    return page, errors


def day_shown(page) -> str:
    return page.get_by_text(re.compile(r"^Day \d+ \+ \d+ h$")).inner_text()


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
    assert day_shown(a) == "Day 0 + 12 h", "stepping B must not move A"
    assert day_shown(b) == "Day 0 + 6 h"
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

    page.get_by_role("button", name="inflammation").click()   # field overlay toggle
    page.get_by_role("button", name="delivery route").click()   # switch route A to intratumoral
    page.get_by_role("option", name="intratumoral").click()
    expect(page.get_by_text("press Reset to apply")).to_be_visible(timeout=10_000)
    page.get_by_role("button", name="Reset", exact=True).click()
    expect(page.get_by_text("Day 0 + 0 h")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("CLDN18.2 / peritoneum / intratumoral").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("press Reset to apply")).to_have_count(0)

    page.screenshot(path=str(tmp_path / "cartsim-viz.png"), full_page=True)
    content = page.inner_text("body")
    page.context.close()
    assert (tmp_path / "cartsim-viz.png").stat().st_size > 20_000
    assert "Traceback" not in content, "the page shows a Python error"
    assert not problems, problems
