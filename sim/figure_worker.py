"""Draw a run's figures in a helper process that gets ready while the simulation runs.

``cartsim run`` would otherwise import matplotlib and draw its first figure (font
loading, text-layout caches, the mathtext parser) only after simulating: a good
second of the default run. :class:`FigureWorker` starts a helper process
(``python -m sim.figure_worker``) before the simulation; it imports matplotlib and
draws a throw-away run into a :class:`sim.plots.TimecourseFigure` while the main
process simulates, then waits (drawing the real run into that figure again costs
about two thirds of drawing a new one). When the run is done the main process sends a :class:`RunView` (the time
series, scans, summary, scenario values and the final lattice: everything the
figures read, without the Mesa model) through a pipe, and the helper draws
``timecourse.png`` and ``lattice.png`` into the staging folder while the main
process writes the tables: the lattice in a child forked from the ready helper, so the
two figures take the two cores (:func:`draw_forked`), while the main process waits.

The helper pays only when a core is free: on a machine whose load average is at or
above its number of cores, its second set of imports and its warm-up would take CPU
time from the simulation (measured: 9.0 s against 8.1 s at load 7 on 2 cores), so there
the figures are drawn in the main process, as before. The helper ignores Ctrl-C (the main process ends it), and ends by itself when the main process
goes away (its pipe closes). If it cannot start or dies, the figures are drawn in the
main process instead; a write error in the helper is raised in the main process as
the same ``OSError``.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim import plots

LATTICE_LAYERS = ("tumor", "normal", "antigen", "antigen_negative", "debris", "repair", "stroma", "vessel")
"""Tissue layers the lattice figure reads (``sim.plots.lattice_rgb``)."""


@dataclass
class RunView:
    """What a run's figures read, picklable and readable without the Mesa model or pandas.

    ``timeseries`` and ``scans`` map each column of the run's tables to a numpy array (the
    helper draws without importing pandas, a quarter of a second of its start-up);
    ``scenario`` and ``tissue`` are namespaces with the attributes ``sim.plots`` reads
    (``scenario.target``, ``tissue.tumor``, ...); ``cart`` maps a phenotype (int) to the
    (n, 2) lattice coordinates of the CAR-T cells in that state at the end.
    """

    timeseries: dict[str, Any]
    scans: dict[str, Any]
    summary: dict
    scenario: SimpleNamespace
    tissue: SimpleNamespace
    cart: dict[int, Any]

    @classmethod
    def of(cls, result) -> RunView:
        """The view of a :class:`sim.model.Result`."""
        import numpy as np

        model = result.model
        cart: dict[int, list] = {}
        for agent in model.agents:
            cart.setdefault(int(agent.phenotype), []).append(agent.cell.coordinate)
        return cls(_columns(result.timeseries), _columns(result.scans), result.summary,
                   SimpleNamespace(**result.scenario.params()),
                   SimpleNamespace(**{name: getattr(model.tissue, name) for name in LATTICE_LAYERS},
                                   shape=model.tissue.shape),
                   {phen: np.array(xy).reshape(-1, 2) for phen, xy in cart.items()})


def _columns(table) -> dict[str, Any]:
    """Each column of a pandas DataFrame as a numpy array."""
    return {name: table[name].to_numpy() for name in table.columns}


def draw(view: RunView, folder: Path) -> None:
    """Write ``timecourse.png`` and ``lattice.png`` of ``view`` into ``folder`` (in this process)."""
    from sim import plots

    plots.timecourse(view, Path(folder) / "timecourse.png")
    plots.lattice(view, Path(folder) / "lattice.png")


def draw_forked(view: RunView, folder: Path, timecourse: plots.TimecourseFigure | None = None) -> None:
    """As :func:`draw`, with ``lattice.png`` drawn by a child forked from this process
    (matplotlib already loaded there) while this process draws ``timecourse.png``, into
    ``timecourse`` (a :class:`sim.plots.TimecourseFigure` drawn before) if given.

    An error in either figure is raised here; if the child cannot report (it died),
    the lattice is drawn here after all.
    """
    from sim import plots

    folder = Path(folder)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: draw, report "ok" or the exception, and leave at once
        os.close(read)
        try:
            plots.lattice(view, folder / "lattice.png")
            reply: Any = "ok"
        except Exception as err:  # noqa: BLE001 - handed to the parent, which raises it
            reply = err
        with os.fdopen(write, "wb") as pipe:
            pickle.dump(reply, pipe)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        try:
            if timecourse is None:
                plots.timecourse(view, folder / "timecourse.png")
            else:
                timecourse.draw(view, folder / "timecourse.png")
        finally:
            try:
                reply = pickle.load(pipe)
            except (EOFError, pickle.UnpicklingError):
                reply = None
            os.waitpid(child, 0)
    if reply is None:
        plots.lattice(view, folder / "lattice.png")
    elif reply != "ok":
        raise reply


class FigureWorker:
    """The helper process (see the module docstring); use as a context manager around a run.

    ``helper``: start one (True), draw in this process (False), or start one only while a
    core is free (None: load average below the number of cores, unless the environment
    variable ``CARTSIM_FIGURE_HELPER`` is set to 1 or 0 to force the choice).
    """

    def __init__(self, helper: bool | None = None):
        self.process = None
        if helper is None:
            forced = os.environ.get("CARTSIM_FIGURE_HELPER")
            helper = forced == "1" if forced in ("0", "1") else os.getloadavg()[0] < (os.cpu_count() or 1)
        if helper:
            try:
                self.process = subprocess.Popen([sys.executable, "-m", "sim.figure_worker"], stdin=subprocess.PIPE,
                                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            except OSError:
                pass
        self.pending: tuple[RunView, Path] | None = None

    def __enter__(self) -> FigureWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self, view: RunView, folder: Path) -> None:
        """Hand the figures of ``view`` to the helper; they are written into ``folder`` by :meth:`finish`."""
        self.pending = (view, Path(folder))
        if self.process is None:  # no helper: finish() draws here
            return
        try:
            pickle.dump(self.pending, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.close()
        except OSError:  # the helper died: finish() draws here
            self.close()

    def finish(self) -> None:
        """Wait for the figures handed over by :meth:`start`; draw them here if the helper is gone."""
        view, folder = self.pending
        reply = None
        if self.process is not None:
            try:
                reply = pickle.load(self.process.stdout)
            except (EOFError, OSError, pickle.UnpicklingError):
                reply = None
            self.close()
        if reply is None:
            draw(view, folder)
        elif reply != "ok":
            raise reply

    def close(self) -> None:
        """End the helper if it still runs."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            for pipe in (self.process.stdin, self.process.stdout):
                pipe.close()
            self.process = None


def _warm_up() -> plots.TimecourseFigure:
    """Draw a throw-away time course in memory: imports, fonts, text caches and the mathtext parser
    get ready (the lattice figure costs little more the first time than later). Its time series
    has the columns the figure reads, so the helper does not load the model (and Mesa).
    Returns the :class:`sim.plots.TimecourseFigure` it drew, to draw the real run into."""
    import io

    import numpy as np

    from sim.phenotype import Phenotype

    days = np.arange(85)
    rising = np.linspace(1.0, 1e4, days.size)
    ts = {name: rising for name in ("apparent_mm", "viable_mm", "antigen_negative_fraction", "tumor_cells",
                                    "cytokine", *(f"cart_{p.name.lower()}" for p in Phenotype))}
    ts.update(day=days, cart_blood=np.geomspace(1, 1e11, days.size), cart_region=np.geomspace(1, 1e11, days.size))
    # (log-axis labels 10^0 ... 10^11 are laid out with mathtext: parsed once here)
    scans = {"day": np.array([0, 28, 56, 84]), "apparent_mm": np.array([30.0, 20.0, 35.0, 40.0]),
             "call": np.array(["", "PR", "PD", "PD"], dtype=object),
             "irecist": np.array(["", "iPR", "iUPD", "iCPD"], dtype=object)}
    summary = {"best_response": "PR", "best_pct_change": -30.0, "crs_grade": 1, "normal_cells_killed_fraction": 0.0}
    scenario = SimpleNamespace(target="CLDN18.2", site="stomach", route="intravenous", dose=2.5e8, seed=42, days=84)
    from sim import plots

    figure = plots.TimecourseFigure()
    figure.draw(RunView(ts, scans, summary, scenario, SimpleNamespace(), {}), io.BytesIO())
    return figure


def main() -> None:
    """The helper: get ready, then draw the one run it is sent and reply ``"ok"`` or the exception."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole terminal group; the parent decides
    timecourse = _warm_up()
    try:
        view, folder = pickle.load(sys.stdin.buffer)
    except EOFError:  # the run was refused or stopped: nothing to draw
        return
    try:
        draw_forked(view, folder, timecourse)
        reply: Any = "ok"
    except Exception as err:  # noqa: BLE001 - handed to the parent, which reports it
        reply = err
    pickle.dump(reply, sys.stdout.buffer)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
