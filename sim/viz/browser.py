"""Driving the app in a real browser: serve it, open it in Debian's Chromium, read what it shows.

Used by the browser tests (tests/test_viz.py), the frame-rate benchmark
(benchmarks/bench_viz.py) and the lesson screenshots (experiments/app_screenshots.py).
Playwright is a test dependency; it is imported only when a browser is launched.
Chromium is the system's (``chromium`` on PATH); none is ever downloaded.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DAY = re.compile(r"^Day (\d+) \+ (\d+) h$")
"""How the page shows the time (``sim.viz.app.day_text``)."""
HARMLESS_SCRIPT_ERRORS = ("Cannot set properties of undefined (setting 'scrollTop')",)
"""Script errors that come from the page's widgets, not from the app: Vuetify 2's VSelect (the
page bundles Vuetify 2.2.26) can set its menu's scroll position after the menu has gone when
selects change in quick succession; the select works ("everything is working but the issue
pops", vuetifyjs/vuetify#18003). Seen in two of three runs of the lesson screenshots, which
change many selects in a row; never in what a visitor sees."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(timeout_s: float = 90) -> Iterator[str]:
    """Run ``cartsim viz`` on a free port; yield its URL once it answers; stop it after."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "viz", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + timeout_s
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"cartsim viz did not answer on {url} within {timeout_s:.0f} s") from None
                time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Debian Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        raise RuntimeError("no chromium on PATH (Debian: apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_app(browser, url: str, viewport=(1500, 1100)):
    """A fresh visitor (own browser context) with the app loaded; returns (page, problems).

    ``problems`` fills as the page runs: script errors, any request to a host other than
    the app's (the app must work offline) and any HTTP error response (a 404 is an asset
    the page misses).
    """
    page = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}).new_page()
    problems: list[str] = []
    local = url.rstrip("/")
    page.on("pageerror", lambda err: any(known in str(err) for known in HARMLESS_SCRIPT_ERRORS)
            or problems.append(f"script error: {err}"))
    page.on("request", lambda req: req.url.startswith((local, "data:", "blob:"))
            or problems.append(f"request leaves the machine: {req.url}"))
    page.on("response", lambda res: res.status < 400 or problems.append(f"HTTP {res.status}: {res.url}"))
    page.goto(url)
    page.get_by_text(DAY).wait_for(timeout=90_000)
    page.wait_for_function("document.querySelectorAll('img.lattice').length >= 1", timeout=90_000)
    return page, problems


def hours_shown(page) -> int:
    """The simulated time the page shows, in hours since infusion."""
    days, hours = DAY.match(page.get_by_text(DAY).inner_text()).groups()
    return 24 * int(days) + int(hours)


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the app's select called ``label`` (and wait for its menu to close).

    After a change that rebuilds the controls (a new preset), the page briefly holds the old
    select beside the new one under the same label; wait until only one is left."""
    from playwright.sync_api import expect

    select = page.get_by_role("button", name=label)
    expect(select).to_have_count(1)
    select.click()
    choice = page.get_by_role("option", name=option, exact=True)
    choice.click()
    choice.wait_for(state="hidden")


def type_in(page, label: str, text: str) -> None:
    """Type ``text`` into the app's text input called ``label`` and commit it with Enter
    (a Solara InputText takes its value on Enter or when it loses focus)."""
    box = page.get_by_label(label, exact=True)
    box.fill(text)
    box.press("Enter")
