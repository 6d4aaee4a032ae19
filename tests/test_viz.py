"""The browser app, tested in a real (Debian) Chromium with Playwright.

Starts `cartsim viz` on a free port, checks that the lattice and the plots render
offline, steps the model, switches the route and resets, and saves a screenshot.
Skipped only where no Chromium is installed (.ci/run installs Debian's package).
"""

import os
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


def image_sources(page) -> list[str]:
    return page.locator("img").evaluate_all("els => els.map(e => e.src)")


def time_text(page) -> str:
    return page.get_by_text("Time:").inner_text()


def test_app_renders_steps_and_resets(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(server)
        page.wait_for_function("document.querySelectorAll('img').length >= 2", timeout=90_000)
        expect(page.get_by_text("CLDN18.2 / peritoneum / intravenous").first).to_be_visible()
        expect(page.get_by_text("Time: 0.0")).to_be_visible()
        before = image_sources(page)

        for _ in range(5):                                   # 5 steps of 6 h: past a daily record
            page.get_by_role("button", name="Step", exact=True).click()
            page.wait_for_timeout(400)
        expect(page.get_by_text("Time: 5.0")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1500)
        after = image_sources(page)
        assert len(after) >= 2 and after[0] != before[0] and after[1] != before[1], "lattice and plot should redraw"

        page.get_by_role("button", name="inflammation").click()   # field overlay toggle
        page.wait_for_timeout(500)

        page.get_by_role("button", name="delivery route").click()   # switch route A to intratumoral
        page.get_by_role("option", name="intratumoral").click()
        page.get_by_role("button", name="Reset", exact=True).click()
        expect(page.get_by_text("Time: 0.0")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("CLDN18.2 / peritoneum / intratumoral").first).to_be_visible(timeout=30_000)

        page.screenshot(path=str(tmp_path / "cartsim-viz.png"), full_page=True)
        content = page.inner_text("body")
        browser.close()
    assert (tmp_path / "cartsim-viz.png").stat().st_size > 20_000
    assert "Traceback" not in content, "the page shows a Python error"
    assert not errors, errors
