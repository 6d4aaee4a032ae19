"""The helper process that draws a run's figures: same figures, errors reported here, never left behind."""

import subprocess
import sys

import psutil
import pytest

from sim.cli import main
from sim.figure_worker import FigureWorker, RunView
from sim.model import run

FAST = {"width": 40, "height": 40, "days": 3}


@pytest.fixture(scope="module")
def view():
    return RunView.of(run(**FAST))


def test_the_helper_draws_both_figures(tmp_path, view):
    with FigureWorker(helper=True) as figures:
        figures.start(view, tmp_path)
        figures.finish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lattice.png", "timecourse.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in tmp_path.iterdir())


def test_figures_are_drawn_here_when_the_helper_is_gone(tmp_path, view):
    with FigureWorker(helper=True) as figures:
        figures.process.kill()
        figures.start(view, tmp_path)
        figures.finish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lattice.png", "timecourse.png"]


def test_a_write_error_in_the_helper_is_raised_here(tmp_path, view):
    with FigureWorker(helper=True) as figures:
        figures.start(view, tmp_path / "missing")
        with pytest.raises(OSError):
            figures.finish()


def test_the_helper_ends_by_itself_when_the_run_goes_away():
    with FigureWorker(helper=True) as figures:
        figures.process.stdin.close()  # what the kernel does when the run is killed
        assert figures.process.wait(timeout=120) == 0


def test_without_a_helper_the_figures_are_drawn_here(tmp_path, view):
    with FigureWorker(helper=False) as figures:
        assert figures.process is None
        figures.start(view, tmp_path)
        figures.finish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lattice.png", "timecourse.png"]


def test_no_helper_is_left_after_bad_input_or_a_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CARTSIM_FIGURE_HELPER", "1")  # a helper whatever the machine's load
    assert main(["run", "--set", "dose=-1", "--out", str(tmp_path / "bad")]) == 2
    assert main(["run", "--set", "width=40", "--set", "height=40", "--days", "2", "--json",
                 "--out", str(tmp_path / "good")]) == 0
    helpers = [p for p in psutil.Process().children(recursive=True) if "sim.figure_worker" in " ".join(p.cmdline())]
    assert helpers == []  # (other tests' process pools may still be alive: only figure helpers count)
    assert not (tmp_path / "bad").exists() and (tmp_path / "good" / "lattice.png").exists()


def test_the_helper_gets_ready_without_loading_the_model():
    """Its warm-up draws the time course from columns of its own (none missing) and leaves Mesa, pandas
    and SciPy unloaded: the helper must be ready before a short run ends (its imports compete with the
    simulation for a core), and these three are most of what it would otherwise import."""
    code = ("import sys\nfrom sim import figure_worker\nfigure_worker._warm_up()\n"
            "print(sorted(m for m in ('mesa', 'pandas', 'scipy', 'sim.model', 'sim.tcells') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_reused_time_course_figure_draws_what_a_new_one_draws(tmp_path):
    """The helper draws the run into the figure its warm-up drew: limits, scan marks, titles and legend
    follow the new run (a few antialiased pixels may differ, not a panel's scale or a mark)."""
    import numpy as np
    from PIL import Image

    from sim import plots
    from sim.figure_worker import _warm_up

    figure = _warm_up()
    runs = [RunView.of(run(width=40, height=40, days=d, seed=seed, **kw))
            for d, seed, kw in ((30, 1, {}), (60, 2, {"route": "intraperitoneal", "site": "peritoneum"}))]
    try:
        for i, view in enumerate(runs):
            figure.draw(view, tmp_path / f"reused{i}.png")
            plots.timecourse(view, tmp_path / f"fresh{i}.png")
            reused, fresh = (np.asarray(Image.open(tmp_path / f"{kind}{i}.png")) for kind in ("reused", "fresh"))
            assert reused.shape == fresh.shape
            assert np.count_nonzero((reused != fresh).any(axis=-1)) <= 50
    finally:
        figure.close()
