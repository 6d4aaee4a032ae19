"""The ``cartsim`` command line: ``run``, ``trial``, ``calibrate``, ``sweep``, ``viz`` and ``scenarios``.

Bad input (a parameter, a scenario, a flag, an ``--out`` that cannot be written,
a job too large for this machine) stops with one line on stderr that names it,
the value and what is allowed, exit status 2, and nothing written; every such
check is made before any simulation starts. Outputs are written to a staging
folder next to ``--out`` and moved into place only when complete
(``sim.outdir``). SIGTERM is handled like Ctrl-C: work stops, finished results
are kept, worker processes are ended.

Only the modules a command needs are imported, so ``cartsim --help`` and
``cartsim scenarios`` start without loading Mesa, pandas or matplotlib. ``run``
also spares the cyclic garbage collector its passes over what lives until exit:
while it loads its modules, and at exit (:func:`console`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from sim import outdir
from sim.errors import ScenarioError

EXIT_BAD_INPUT = 2
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
"""Status when the reader of the output went away: what a shell reports for a program ended by SIGPIPE."""


class BadInput(Exception):
    """A one-line complaint about the command line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage on two)
        raise BadInput(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    top = _Parser(prog="cartsim", description="Agent-based simulation of CAR-T cell therapy against solid tumours.")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run one scenario and write time series, summary and figures",
                         description="Run one scenario (a preset name or a TOML file; default: the built-in "
                                     "gastric CLDN18.2 intravenous scenario).")
    run.add_argument("scenario", nargs="?", default=None, help="preset name (see `cartsim scenarios`) or FILE.toml")
    _add_overrides(run)
    run.add_argument("--days", type=int, help="simulated days (overrides the scenario)")
    run.add_argument("--seed", type=int, help="random seed (overrides the scenario)")
    run.add_argument("--out", type=Path, help="output folder (new or empty; default: ./cartsim-out/NAME-TIME)")
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object and nothing else")
    tr = sub.add_parser("trial", help="run a virtual trial: sample, screen and treat patients",
                        description="Sample virtual patients from the target's and site's populations, screen "
                                    "them with a simulated biopsy, treat the eligible, and report ORR/DCR with "
                                    "Wilson 95% CIs and Kaplan-Meier progression-free survival. With --control, "
                                    "randomise the eligible into two arms and compare them (hazard ratio, log-rank).")
    tr.add_argument("scenario", help="preset name (see `cartsim scenarios`) or FILE.toml")
    tr.add_argument("--patients", type=int, required=True, help="patients to screen")
    _add_overrides(tr)
    tr.add_argument("--control", action="extend", nargs="+", metavar="NAME=VALUE|PRESET",
                    help="a randomised control arm: the scenario with these treatment parameters changed "
                         "(e.g. --control route=intravenous, --control dose=0), or a preset whose treatment "
                         "differs (e.g. --control gastric-peritoneal-iv)")
    tr.add_argument("--ratio", default=None, metavar="A:B",
                    help="allocation experimental:control with --control (default 1:1), e.g. 2:1")
    tr.add_argument("--seed", type=int, default=0, help="trial seed (patients' seeds are spawned from it)")
    tr.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    tr.add_argument("--out", type=Path, help="output folder (new or empty; default: ./cartsim-out/trial-NAME-TIME)")
    tr.add_argument("--json", action="store_true", help="print the trial summary as one JSON object")
    sw = sub.add_parser("sweep", help="run a parameter sweep (grid, list, Sobol or Morris) into Parquet parts",
                        description="Run a sweep file; every finished run is kept at once, so a killed sweep "
                                    "continues with --resume. Read the result with pandas.read_parquet(OUT).")
    sw.add_argument("sweep_file", type=Path, help="sweep TOML (see sim/sweep.py or the README)")
    sw.add_argument("--backend", choices=["local", "dask"], default="local", help="process pool or Dask (default local)")
    sw.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786 (implies --backend dask)")
    sw.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    sw.add_argument("--out", type=Path, help="output folder (default: ./cartsim-out/SWEEPNAME)")
    sw.add_argument("--resume", action="store_true", help="continue a sweep in --out, skipping finished runs")
    ca = sub.add_parser("calibrate", help="fit free parameters to clinical targets (Optuna study, resumable)",
                        description="Fit the free parameters of a calibration file to its targets' reference "
                                    "ranges with an Optuna study (TPE); every candidate runs the same virtual "
                                    "patients. The study lives in OUT/study.db (or --storage), so a killed "
                                    "calibration continues with --resume. Writes the best parameters as scenario "
                                    "files, a validation on unseen seeds and a Markdown report.")
    ca.add_argument("calibration_file", type=Path, help="calibration TOML (see sim/calibration.py or the README)")
    ca.add_argument("--trials", type=int, default=40, help="finished candidates the study should hold (default 40)")
    ca.add_argument("--storage", help="study database URL (default: sqlite:///OUT/study.db), e.g. "
                                      "postgresql://host/db for several machines")
    ca.add_argument("--backend", choices=["local", "dask"], default="local", help="process pool or Dask (default local)")
    ca.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786 (implies --backend dask)")
    ca.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    ca.add_argument("--out", type=Path, help="output folder (default: ./cartsim-out/calibration-NAME)")
    ca.add_argument("--resume", action="store_true", help="continue the study in --out (or --storage)")
    ca.add_argument("--json", action="store_true", help="print the result as one JSON object")
    vz = sub.add_parser("viz", help="open the teaching app in the browser (Solara)",
                        description="Serve the browser app; open the printed address. Listens on 127.0.0.1 "
                                    "unless --host says otherwise.")
    vz.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    vz.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    sc = sub.add_parser("scenarios", help="list the scenario presets, one line each",
                        description="List scenario presets; with --parameters, every parameter with unit and range.")
    sc.add_argument("--parameters", action="store_true", help="list every parameter: name, default, unit, meaning")
    return top


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help="override a parameter, e.g. --set dose=5e8 (repeatable)")


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (finished results kept, workers ended)."""


def _on_sigterm(signum, frame):
    raise Terminated()


def console() -> None:
    """Entry point of the ``cartsim`` console script: :func:`main`, then exit.

    After ``cartsim run``, everything still alive (the run's model, the loaded modules) is
    frozen out of the garbage collector first, so the interpreter's last collections do not
    walk it (about 0.3 s of a default run); its outputs are written and its figure helper
    has ended, so no finalizer is owed, and the operating system frees the memory. Other
    commands exit as usual: their process pools and study databases finish in finalizers
    (a frozen calibration left a trial RUNNING in its database).
    """
    status = main()
    if sys.argv[1:2] == ["run"]:
        gc.freeze()
    sys.exit(status)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cartsim`` console script (SIGTERM handled like Ctrl-C while it runs)."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    try:
        return _command(argv)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _command(argv: list[str] | None) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command == "scenarios":
            return _scenarios(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "calibrate":
            return _calibrate(args)
        if args.command == "trial":
            return _trial(args)
        if args.command == "viz":
            return _viz(args)
        return _run(args)
    except (BadInput, ScenarioError) as err:
        print(f"cartsim: {err}" if not str(err).startswith("cartsim") else str(err), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as err:
        print(f"cartsim: {_stopped(err)}; nothing was written", file=sys.stderr)
        return _interrupted_status(err)
    except BrokenPipeError:  # the reader went away (`cartsim scenarios | head`): nothing to report to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the flush at exit is quiet too
        return EXIT_BROKEN_PIPE
    except OSError as err:  # the disk filled up or a folder vanished while writing: one line, not a traceback
        where = f" ({err.filename})" if err.filename else ""
        print(f"cartsim: cannot write the outputs: {err.strerror or err}{where}", file=sys.stderr)
        return 1


def _stopped(err: KeyboardInterrupt) -> str:
    return "terminated (SIGTERM)" if isinstance(err, Terminated) else "interrupted"


def _interrupted_status(err: KeyboardInterrupt) -> int:
    return 128 + (signal.SIGTERM if isinstance(err, Terminated) else signal.SIGINT)


def _scenarios(args) -> int:
    if args.parameters:
        from sim.parameters import Parameters  # no Mesa, no NumPy: starts fast

        print("\n".join(Parameters.describe()))
        return 0
    from sim.presets import preset_description, preset_files

    print(f"{'default':28s} built-in defaults (`cartsim scenarios --parameters` lists them); "
          "the scenario `cartsim run` uses without a name")
    for name, path in preset_files().items():
        print(f"{name:28s} {preset_description(path)}")
    return 0


@contextmanager
def _stops_held():
    """Hold SIGTERM and SIGINT back while the body runs; one that arrived meanwhile is delivered on leaving.

    For the module imports of ``run``, ``trial``, ``sweep`` and ``calibrate``: a stop raised
    inside NumPy's C-extension import turns into an ImportError that names no stop (a
    traceback and exit status 1 instead of "nothing was written" and 143). Held, it is noted
    by a handler that raises nothing and raised again (``signal.raise_signal``) once the
    modules are loaded, to the handlers that were in place."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        yield
        return
    arrived: list[int] = []
    handlers = {stop: signal.signal(stop, lambda signum, frame: arrived.append(signum))
                for stop in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for stop, handler in handlers.items():
            signal.signal(stop, handler)
    if arrived:
        signal.raise_signal(arrived[0])


@contextmanager
def _swallowed_stops_kept():
    """Keep a stop that Python had to swallow; yield a check that raises it.

    A ``Terminated`` (SIGTERM) or ``KeyboardInterrupt`` raised while Python runs a weakref
    callback or a finalizer cannot propagate: Python prints "Exception ignored" and carries on,
    so the run would finish and write its outputs as if never stopped. Mesa's agent sets run
    weakref callbacks as CAR-T cells die, so a stop can land there. While the body runs such
    an exception is kept instead (``sys.unraisablehook``; any other goes to the previous hook),
    and the check, called after every hour of the run, raises it."""
    kept: list[BaseException] = []
    previous = sys.unraisablehook

    def keep(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            kept.append(unraisable.exc_value)
        else:
            previous(unraisable)

    def raise_kept_stop() -> None:
        if kept:
            raise kept[0]

    sys.unraisablehook = keep
    try:
        yield raise_kept_stop
    finally:
        sys.unraisablehook = previous


@contextmanager
def _model_modules_frozen():
    """Load the model's modules (Mesa, pandas, SciPy) with cyclic garbage collection paused,
    freeze what they made (``gc.freeze``) for the body, and unfreeze it after.

    Their hundreds of thousands of module-level objects live until exit; the collector's
    passes over them cost about 0.1 s of ``cartsim run`` while they load and 0.07 s after,
    when building the lattice's 10,000 Mesa cells sets off a full collection. Unfrozen at
    the end for callers in the same process (tests)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        with _stops_held():
            import sim.model  # noqa: F401
            import sim.plausibility  # noqa: F401
            import sim.scenario  # noqa: F401
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    try:
        yield
    finally:
        gc.unfreeze()


def _default_out(prefix: str) -> Path:
    """``./cartsim-out/PREFIX-TIME``; staging moves a result to ``-2``, ``-3`` if taken meanwhile."""
    return Path("cartsim-out") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def _run(args) -> int:
    from sim.figure_worker import FigureWorker

    with FigureWorker() as figures, _model_modules_frozen():  # the helper gets matplotlib ready meanwhile
        return _run_with(args, figures)


def _run_with(args, figures) -> int:
    from sim import plausibility
    from sim.model import CARTModel, complete
    from sim.scenario import load_scenario, parse_overrides

    overrides = parse_overrides(args.overrides)
    if args.days is not None:
        overrides["days"] = args.days
    if args.seed is not None:
        overrides["seed"] = args.seed
    scenario = load_scenario(args.scenario, overrides)  # the model checks its memory need before stepping
    name = Path(args.scenario).stem if args.scenario else "default"
    out = args.out or _default_out(name)
    outdir.check_new(out)
    plausibility.warn(plausibility.concerns(scenario))
    with _swallowed_stops_kept() as raise_kept_stop:
        result = complete(CARTModel(scenario), progress=not args.json, after_step=raise_kept_stop)
    out = _write(result, out, figures)
    if args.json:
        print(json.dumps(result.summary))
    else:
        print(_readable(result, name, out))
    return 0


def _trial(args) -> int:
    with _stops_held():
        from sim import plausibility
        from sim.scenario import load_scenario, parse_overrides
        from sim.trial import TrialInterrupted, check_trial, ignored_overrides, parse_ratio, run_trial

    if args.ratio is not None and args.control is None:
        raise BadInput(f"cartsim trial: --ratio {args.ratio}: needs a control arm (--control NAME=VALUE)")
    ratio = parse_ratio(args.ratio) if args.ratio is not None else (1, 1)
    overrides = parse_overrides(args.overrides)
    scenario = load_scenario(args.scenario, overrides)
    control = _control(args.control, scenario, overrides) if args.control is not None else None
    check_trial(scenario, args.patients, args.seed, args.workers)
    name = Path(args.scenario).stem
    out = args.out or _default_out(f"trial-{name}")
    outdir.check_new(out)
    plausibility.warn(plausibility.concerns(scenario))
    if ignored := ignored_overrides(overrides):
        plausibility.warn([f"trial: {', '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} drawn per patient "
                           "from the target's population (sim/trial.py); their --set values are not used"])
    try:
        with outdir.lock(out):  # a second trial into this folder is refused; results are staged after the lock
            trial = run_trial(scenario, args.patients, seed=args.seed, workers=args.workers,
                              progress=not args.json, control=control, ratio=ratio)
    except TrialInterrupted as stop:
        kept = stop.partial.summary["n_screened"] if stop.partial is not None else 0
        if kept:
            out, _ = _write_trial(stop.partial, out)
        where = f"kept in {out}" if kept else "nothing was written"
        print(f"cartsim trial: {_stopped(stop.cause)}; {kept} of {args.patients} patients finished, {where}",
              file=sys.stderr)
        return _interrupted_status(stop.cause)
    out, files = _write_trial(trial, out)
    if args.json:
        print(json.dumps(trial.summary))
        return 0
    s = trial.summary
    lines = [f"cartsim trial: {name}: {s['n_screened']} screened, {s['n_enrolled']} enrolled "
             f"({100 * s['screen_failure_rate']:.0f}% screen failures)"]
    if trial.arms:
        lines[0] += f", randomised {s['ratio']} to {' / '.join(trial.arms)}"
        for arm_name, arm in trial.arms.items():
            lines += [f"  {arm_name} ({arm.summary['route']}, dose {arm.summary['dose']:.3g}):"]
            lines += ["  " + line for line in _arm_lines(arm.summary)]
        hr, (low, high) = s["hazard_ratio"], s["hazard_ratio_ci95"]
        lines.append(f"  ORR difference {_pct(s['orr_difference'])} (95% CI {_pct(s['orr_difference_ci95'][0])} to "
                     f"{_pct(s['orr_difference_ci95'][1])}); PFS hazard ratio "
                     + ("not estimable (too few progressions to compare)" if hr is None else
                        f"{hr:.2f} (95% CI {low:.2f}-{high:.2f}), log-rank p = {s['logrank_p']:.3g}"))
    else:
        lines += _arm_lines(s)
        lines.append(f"  clinical reference: {s['reference']}")
    lines.append(f"  written to {out}/ ({', '.join(files)})")
    print("\n".join(lines))
    return 0


def _calibrate(args) -> int:
    from concurrent.futures.process import BrokenProcessPool

    with _stops_held():
        from sim.calibration import load_calibration, run_calibration

    cal = load_calibration(args.calibration_file)
    out = args.out or Path("cartsim-out") / f"calibration-{cal.name}"
    say = None if args.json else (lambda line: print(f"cartsim calibrate: {line}", file=sys.stderr, flush=True))
    backend = "dask" if args.scheduler else args.backend
    try:
        result = run_calibration(cal, out, n_trials=args.trials, storage=args.storage, backend=backend,
                                 workers=args.workers, scheduler=args.scheduler, resume=args.resume, report=say)
    except (KeyboardInterrupt, BrokenProcessPool) as stop:
        why, status = ((_stopped(stop), _interrupted_status(stop)) if isinstance(stop, KeyboardInterrupt)
                       else ("a worker process died", 1))
        print(f"cartsim calibrate: {why}; the finished candidates are kept in the study "
              f"({args.storage or out / 'study.db'}); continue with --resume", file=sys.stderr)
        return status
    if args.json:
        print(json.dumps(result))
        return 0
    v = result["validation_loss"]
    print(f"cartsim calibrate: {cal.name}: {result['n_trials']} candidates, best trial {result['best_trial']} "
          f"(loss {result['best_loss']:.3g}): "
          + ", ".join(f"{k}={v:.4g}" for k, v in result["best_params"].items())
          + f"\n  validation seeds: loss {v['best']:.3g} (best) vs {v['defaults']:.3g} (shipped defaults)"
          + f"\n  written to {result['out']}/ ({', '.join(result['files'])})")
    return 0


def _control(items: list[str], scenario: CARTScenario, overrides: dict) -> dict:
    """The control arm's overrides from ``--control`` items: NAME=VALUE, or a preset name whose
    treatment differs from the scenario's (with the same ``--set`` overrides; the patients'
    traits come from the scenario's population and are not compared)."""
    from sim.scenario import load_scenario, parse_overrides, preset_files
    from sim.trial import TRAITS

    control: dict = {}
    for item in items:
        if "=" in item:
            control.update(parse_overrides([item], flag="--control"))
            continue
        if item not in preset_files():
            raise BadInput(f"cartsim trial: --control {item}: expected NAME=VALUE or a preset name "
                           f"({', '.join(preset_files())})")
        theirs, ours = load_scenario(item, overrides).params(), scenario.params()
        differs = {k: v for k, v in theirs.items() if v != ours[k] and k not in TRAITS}
        if not differs:
            raise BadInput(f"cartsim trial: --control {item}: this preset treats as the scenario does; "
                           "allowed: a preset or NAME=VALUE that changes the treatment")
        control.update(differs)
    return control


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:+.1f}%"


def _months(days: float | None) -> str:
    from sim.survival import MONTH_DAYS

    return "not reached" if days is None else f"{days / MONTH_DAYS:.1f} months"


def _median(median: float | None, ci: list[float | None]) -> str:
    """A Kaplan-Meier median with its 95% CI, in months."""
    if median is None and ci[0] is None:
        return "not reached"
    return f"{_months(median)} (95% CI {_months(ci[0])} to {_months(ci[1])})"


def _arm_lines(s: dict) -> list[str]:
    """Readable outcome lines of one arm's summary (one line when no patient was treated)."""
    if not s["n_enrolled"]:
        return ["  no patient treated: ORR, PFS and the other outcomes are not evaluable"]
    rates = ", ".join(f"{100 * s[k]:.0f}% at {when}" for k, when in (("pfs_rate_6m", "6 months"),
                                                                      ("pfs_rate_12m", "12 months")) if s[k] is not None)
    dor = _median(s["dor_median_days"], s["dor_median_ci95"]) if s["cr"] + s["pr"] else "no responses"
    return [f"  ORR {100 * s['orr']:.1f}% (95% CI {100 * s['orr_ci95'][0]:.1f}-{100 * s['orr_ci95'][1]:.1f}); "
            f"DCR {100 * s['dcr']:.1f}%; CR {s['cr']}, PR {s['pr']}, SD {s['sd']}, PD {s['pd']}, NE {s['ne']}",
            f"  median PFS {_median(s['pfs_median_days'], s['pfs_median_ci95'])}; {s['n_progressed']} progressed"
            f"{'; progression-free ' + rates if rates else ''}",
            f"  median duration of response {dor}",
            f"  pseudo-progression {100 * s['pseudo_progression_rate']:.0f}%, severe toxicity "
            f"{100 * s['severe_toxicity_rate']:.0f}%, relapse {100 * s['relapse_rate']:.0f}%"]


def _write_trial(trial, out: Path) -> tuple[Path, list[str]]:
    """Write the trial outputs through a staging folder; the folder they landed in and the file names."""
    from sim import plots

    with outdir.staging(out) as (tmp, final):
        trial.patients.to_parquet(tmp / "patients.parquet", index=False)
        (tmp / "summary.json").write_text(json.dumps(trial.summary, indent=2) + "\n")
        plots.km_curves(trial, tmp / "km.png")
        for suffix, part in ({f"-{k}": v for k, v in trial.arms.items()} or {"": trial}).items():
            if not part.courses:  # nobody treated: no per-patient figures
                continue
            plots.waterfall(part, tmp / f"waterfall{suffix}.png")
            plots.spider(part, tmp / f"spider{suffix}.png")
            plots.swimmer(part, tmp / f"swimmer{suffix}.png")
        files = sorted(p.name for p in tmp.iterdir())
    return final[0], files


def _sweep(args) -> int:
    from concurrent.futures.process import BrokenProcessPool

    with _stops_held():
        from sim.sweep import SweepStopped, finished_runs, load_sweep, run_sweep

    sweep = load_sweep(args.sweep_file)
    out = args.out or Path("cartsim-out") / sweep.name
    backend = "dask" if args.scheduler else args.backend
    try:
        table = run_sweep(sweep, out, backend=backend, workers=args.workers, scheduler=args.scheduler,
                          resume=args.resume)
    except (KeyboardInterrupt, BrokenProcessPool, SweepStopped) as err:
        if isinstance(err, KeyboardInterrupt):
            why, status = _stopped(err), _interrupted_status(err)
        else:
            why, status = str(err) if isinstance(err, SweepStopped) else "a worker process died", 1
        print(f"cartsim sweep: {why}; {len(finished_runs(out))} of {sweep.n_runs} runs are kept in {out}; "
              f"continue with --resume", file=sys.stderr)
        return status
    print(f"cartsim sweep: {len(table)} runs in {out}/ (read with pandas.read_parquet); "
          f"response rate {table.responded.mean():.0%}")
    return 0


def _viz(args) -> int:
    import subprocess

    if not 0 < args.port < 65536:
        raise BadInput(f"cartsim viz: --port {args.port}: allowed: 1-65535")
    app = Path(__file__).parent / "viz" / "app.py"
    print(f"cartsim viz: serving on http://{args.host}:{args.port} (Ctrl-C stops)", file=sys.stderr)
    command = [sys.executable, "-m", "solara", "run", str(app), "--host", args.host, "--port", str(args.port),
               "--production", "--no-open", "--log-level", "warning"]
    server = subprocess.Popen(command, preexec_fn=_ends_with(os.getpid()) if sys.platform == "linux" else None)
    try:
        return server.wait()
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: stop the server too
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        return _interrupted_status(stop)


def _ends_with(parent: int):
    """For the app's server process, run before it starts: Linux sends it SIGTERM when ``parent``
    (``cartsim viz``) ends, even by SIGKILL, which cartsim cannot answer itself (prctl
    PR_SET_PDEATHSIG); if the parent is already gone, the server does not start."""
    def arrange() -> None:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(0)
    return arrange


def _write(result, out: Path, figures) -> Path:
    """Write all outputs of a run through a staging folder; return the folder they landed in.

    The figures are drawn by ``figures`` (a :class:`sim.figure_worker.FigureWorker`) while
    the tables are written here."""
    from sim.figure_worker import RunView

    with outdir.staging(out) as (tmp, final):
        figures.start(RunView.of(result), tmp)
        result.timeseries.to_csv(tmp / "timeseries.csv", index=False)
        result.scans.to_csv(tmp / "scans.csv", index=False)
        (tmp / "summary.json").write_text(json.dumps(result.summary, indent=2) + "\n")
        (tmp / "scenario.toml").write_text(result.scenario.to_toml())
        figures.finish()
    return final[0]


def _best(summary: dict, scenario, scans) -> str:
    """The best-response line: the call and change, and why the call is not what the change suggests
    (NE, or PD after a stable-disease scan that came before ``sd_min_days``)."""
    if summary["best_pct_change"] is None:
        return (f"NE (not evaluable: the run ends on day {scenario.days}, before the first follow-up scan "
                f"on day {scenario.first_scan_day})")
    early_sd = scans[(scans.call == "SD") & (scans.day < scenario.sd_min_days)].day
    why = ""
    if summary["best_response"] == "NE":
        why = f", not evaluable: no response and no stable disease by day {scenario.sd_min_days}"
    elif summary["best_response"] == "PD" and len(early_sd):
        why = (f"; stable disease on day {int(early_sd.iloc[0])} does not count: RECIST's minimum for it "
               f"is day {scenario.sd_min_days} (sd_min_days)")
    return f"{summary['best_response']} ({summary['best_pct_change']:+.1f}% longest diameter at its smallest{why})"


def _readable(result, name: str, out: Path) -> str:
    s, r = result.scenario, result.summary
    scans = "  ".join(f"d{int(row.day)} {row.apparent_mm:.0f}mm {row.call or 'baseline'}"
                      f"{f' ({row.irecist})' if row.irecist in ('iUPD', 'iCPD') else ''}"
                      for row in result.scans.itertuples())
    lines = [
        f"cartsim run: {name}: {s.target} lesion in the {s.site}, {s.route}, dose {s.dose:.3g} cells, "
        f"{s.days} days, seed {s.seed}",
        f"  best response      {_best(r, s, result.scans)}"
        f"{', pseudo-progression' if r['pseudo_progression'] else ''}{', relapse' if r['relapse'] else ''}",
        f"  scans              {scans}",
        f"  progression-free   {r['pfs_days']} days ({'progressed, iRECIST-confirmed' if r['progressed'] else 'censored'})"
        + (f"; response from day {r['response_day']:.0f}, lasting {r['dor_days']:.0f} days" if r['response_day'] is not None else "")
        + (f"; {r['infusions_given']} infusions" if s.infusions > 1 else ""),
        f"  tumour cells       {r['baseline_tumor_cells']} at day 0 -> {r['final_tumor_cells']} at day {s.days}; "
        f"antigen-negative {100 * r['antigen_negative_fraction_end']:.0f}% at the end "
        f"(set {100 * s.antigen_negative_fraction:.0f}% at start)",
        f"  CAR-T in blood     peak {r['cart_peak']:.3g} cells on day {r['cart_peak_day']}, {r['cart_end']:.3g} at the end",
        f"  CAR-T in lesion    peak {r['cart_lesion_peak']} cells on the lattice, {r['cart_lesion_end']} at the end",
        f"  toxicity           CRS grade {r['crs_grade']} (proxy); normal target-bearing cells killed "
        f"{100 * r['normal_cells_killed_fraction']:.1f}%",
        f"  written to         {out}/ (timeseries.csv, scans.csv, summary.json, scenario.toml, timecourse.png, lattice.png)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    console()
