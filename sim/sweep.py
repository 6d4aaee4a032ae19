"""Parameter sweeps: a design of runs, executed on a process pool or a Dask cluster.

A sweep file (TOML) names a base scenario, fixed overrides, the parameters that
vary, replicates and a root seed::

    base = "gastric-peritoneal-iv"      # preset name, or a scenario file relative to this file
    replicates = 4
    seed = 2026                         # root seed; run i gets SeedSequence(seed).spawn(n)[i]
    outputs = ["best_pct_change", "responded"]   # summary keys to analyse (sensitivity)

    [set]                               # fixed overrides of the base
    width = 60
    days = 56

    [grid]                              # full factorial ...
    route = ["intravenous", "intraperitoneal"]
    dose = [1e8, 2.5e8, 5e8]

    # [list]: equal-length lists taken row by row (e.g. target with its site);
    # with [grid] too, every list row is crossed with every grid combination.
    # Or [sample] method = "sobol" | "morris", n = 64, [sample.bounds] name = [low, high]

Every run writes one Parquet part (``part-000042.parquet``: run index, replicate,
seed, the varied parameters, the summary) the moment it finishes, through a
temporary file and an atomic rename, so a sweep killed at any point keeps every
finished run; ``resume=True`` skips them. ``pandas.read_parquet(out)`` reads the
table (files starting with ``_`` or ``.``, such as ``_manifest.json`` and
``_analysis/``, are ignored by the reader). Local and Dask backends share one code
path: both are ``concurrent.futures`` executors (Dask's ``Client.get_executor``).
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import json
import math
import multiprocessing
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from tqdm import tqdm

from sim import guard, outdir, plausibility
from sim.imaging import OBJECTIVE_RESPONSE
from sim.presets import read_toml
from sim.scenario import CARTScenario, ScenarioError, coerce, load_scenario

PART = "part-{:06d}.parquet"
MANIFEST = "_manifest.json"
ANALYSIS = "_analysis"
SAMPLERS = ("sobol", "morris")
SCHEDULER_TIMEOUT_S = 5
"""Seconds allowed to reach a Dask scheduler before the sweep is refused."""


class SweepError(ScenarioError):
    """A sweep file or output folder that cannot be used (one line)."""


class SweepStopped(RuntimeError):
    """A sweep stopped part-way for a reason other than bad input (finished runs are kept)."""


@dataclass
class Sweep:
    """A parsed, validated sweep: the design points and how often to run each."""

    name: str
    base: dict[str, Any]
    points: list[dict[str, Any]]
    replicates: int
    seed: int
    outputs: list[str] = field(default_factory=lambda: ["best_pct_change", "responded"])
    method: str = "grid"
    bounds: dict[str, list[float]] = field(default_factory=dict)
    samples: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    """Each distinct plausibility warning of the design points (``sim.plausibility``), with how many it concerns."""

    @property
    def n_runs(self) -> int:
        """Design points times replicates."""
        return len(self.points) * self.replicates

    def run_seeds(self) -> list[int]:
        """Per-run seeds, keyed by run index, spawned from the root seed."""
        children = np.random.SeedSequence(self.seed).spawn(self.n_runs)
        return [int(c.generate_state(1, dtype=np.uint64)[0] >> 1) for c in children]

    def tasks(self) -> list[tuple[int, int, dict[str, Any]]]:
        """``(run index, replicate, parameters)`` for every run; run i = point i // replicates."""
        seeds = self.run_seeds()
        return [(i, i % self.replicates, {**self.base, **self.points[i // self.replicates], "seed": seeds[i]})
                for i in range(self.n_runs)]

    def fingerprint(self) -> str:
        """What must match for ``resume`` to continue this sweep: the design and the model's code and data."""
        return json.dumps({"base": self.base, "points": self.points, "replicates": self.replicates,
                           "seed": self.seed, "model": model_version()}, sort_keys=True, default=str)


NOT_MODEL = {"cli.py", "calibration.py", "plots.py", "figure_worker.py", "outdir.py", "guard.py", "errors.py"}
"""Modules of ``sim`` that do not take part in computing a run's result (see :func:`model_version`)."""


@cache
def model_version() -> str:
    """Hash of the model's source and data tables: runs from different versions never mix on resume,
    and a Dask worker running other code than the client stops the sweep (computed once per process).
    Modules that cannot change a run's result (the command line, reports, figures, output folders,
    the resource guard, the calibration driver) are left out, so mending them keeps a study resumable."""
    from sim import tables

    return source_digest(Path(__file__).parent, tables.seeds_dir())


def source_digest(package: Path, seeds: Path) -> str:
    """Hash of the model modules of ``package`` and the tables under ``seeds``, each file named
    relative to its own folder: the same code gives the same hash wherever the install puts the
    tables (beside the package in a source checkout, inside it in an installed wheel)."""
    import hashlib

    digest = hashlib.sha256()
    modules = [p for p in package.glob("*.py") if p.name not in NOT_MODEL]
    for root, files in ((package, modules), (seeds, list(seeds.rglob("*.toml")))):
        for name, path in sorted((p.relative_to(root).as_posix(), p) for p in files):
            digest.update(name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


CHECK_BAR_POINTS = 5000
"""Designs with at least this many points show a progress bar while each point is validated
(about half a millisecond a point: 100,000 points take most of a minute before the first run)."""


def load_sweep(path: str | Path) -> Sweep:
    """Parse and validate a sweep file; raise SweepError with a one-line message."""
    path = Path(path)
    try:
        spec = read_toml(path, "sweep file")
    except ScenarioError as err:
        raise SweepError(str(err)) from None
    known = {"base", "replicates", "seed", "outputs", "set", "grid", "list", "sample", "description"}
    if unknown := sorted(set(spec) - known):
        raise SweepError(f"sweep file {path}: unknown key '{unknown[0]}'; allowed: {', '.join(sorted(known))}")
    replicates = spec.get("replicates", 1)
    if not isinstance(replicates, int) or isinstance(replicates, bool) or not 1 <= replicates <= guard.MAX_RUNS:
        raise SweepError(f"sweep file {path}: replicates = {replicates!r}; allowed: a whole number from 1 to "
                         f"{guard.MAX_RUNS:,}")
    seed = spec.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= 2**63 - 1:
        raise SweepError(f"sweep file {path}: seed = {seed!r}; allowed: a whole number from 0 to {2**63 - 1}")
    base_source = spec.get("base")
    if base_source is not None and not isinstance(base_source, str):
        raise SweepError(f"sweep file {path}: base = {base_source!r}; allowed: a preset name (`cartsim scenarios`) "
                         "or a scenario .toml file relative to the sweep file")
    if isinstance(base_source, str) and base_source.endswith(".toml"):
        base_source = path.parent / base_source
    for table in ("set", "grid", "list", "sample"):
        if not isinstance(spec.get(table, {}), dict):
            raise SweepError(f"sweep file {path}: {table} = {spec[table]!r}; allowed: a [{table}] table")
    fixed = {name: _value(path, name, v) for name, v in spec.get("set", {}).items()}
    base = _in_file(path, "", lambda: load_scenario(base_source, fixed).params())
    base.pop("seed")

    method, bounds, samples = "grid", {}, None
    if "sample" in spec:
        if "grid" in spec or "list" in spec:
            raise SweepError(f"sweep file {path}: [sample] cannot be combined with [grid] or [list]")
        method, bounds, samples, points = _sample(path, spec["sample"], seed, base)
    else:
        rows = [{}]
        if "list" in spec:
            lists = _lists(path, spec["list"], "list")
            if len({len(v) for v in lists.values()}) > 1:
                raise SweepError(f"sweep file {path}: [list] columns have different lengths "
                                 f"{[len(v) for v in lists.values()]}")
            rows = [dict(zip(lists, row)) for row in zip(*lists.values())]
        grid = _lists(path, spec.get("grid", {}), "grid")
        if overlap := sorted(set(grid) & {name for row in rows for name in row}):
            raise SweepError(f"sweep file {path}: '{overlap[0]}' is in both [list] and [grid]")
        _check_size(path, len(rows) * math.prod(len(v) for v in grid.values()), replicates)
        points = [{**row, **dict(zip(grid, combo))} for row in rows for combo in itertools.product(*grid.values())]

    outputs = _outputs(path, spec.get("outputs", ["best_pct_change", "responded"]))
    concerns: dict[str, int] = {}
    checking = tqdm(points, desc=f"{path.stem}: checking", unit="point", disable=len(points) < CHECK_BAR_POINTS,
                    leave=False)
    for i, point in enumerate(checking):  # validate every design point now, before anything runs
        scenario = _in_file(path, f"design point {i} {point}: ", lambda: CARTScenario(**{**base, **point}))
        for line in plausibility.concerns(scenario):
            concerns[line] = concerns.get(line, 0) + 1
    warnings = [f"{line} ({n} of {len(points)} design points)" for line, n in concerns.items()]
    return Sweep(path.stem, base, points, replicates, seed, outputs, method, bounds, samples, warnings)


def _in_file(path: Path, where: str, make):
    """``make()``, with a ScenarioError restated as a SweepError naming the sweep file."""
    try:
        return make()
    except SweepError:
        raise
    except ScenarioError as err:
        raise SweepError(f"sweep file {path}: {where}{err}") from None


def _check_size(path: Path, points: int, replicates: int) -> None:
    """Refuse a design of more than ``guard.MAX_RUNS`` runs before building it."""
    if points * replicates > guard.MAX_RUNS:
        raise SweepError(f"sweep file {path}: {points:,} design points x {replicates} replicates = "
                         f"{points * replicates:,} runs; allowed: at most {guard.MAX_RUNS:,}")


def _outputs(path: Path, outputs: Any) -> list[str]:
    """The ``outputs`` list, each name a number-valued column of a run's row."""
    allowed = summary_outputs()
    if not isinstance(outputs, list) or not outputs:
        raise SweepError(f"sweep file {path}: outputs = {outputs!r}; allowed: a non-empty list of "
                         f"{', '.join(allowed)}")
    for name in outputs:
        if name not in allowed:
            raise SweepError(f"sweep file {path}: outputs: '{name}' is not a numeric run result; "
                             f"allowed: {', '.join(allowed)}")
    return list(outputs)


@cache
def summary_outputs() -> list[str]:
    """Numeric columns of a sweep row (summary keys and ``responded``), read off a one-day 40x40 run."""
    row = run_one(0, 0, CARTScenario(width=40, height=40, days=1).params(), [])
    return sorted(k for k, v in row.items() if not isinstance(v, str) and k not in ("run", "replicate", "seed"))


def _value(path: Path, name: str, value: Any) -> Any:
    if name == "seed":
        raise SweepError(f"sweep file {path}: 'seed' is the sweep's root seed, set at top level; per-run seeds are spawned")
    if name not in CARTScenario.parameter_names():
        raise SweepError(f"sweep file {path}: unknown parameter '{name}'; `cartsim scenarios --parameters` lists them")
    return coerce(name, value)


def _lists(path: Path, table: dict, kind: str) -> dict[str, list]:
    out = {}
    for name, values in table.items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"sweep file {path}: [{kind}] {name} = {values!r}; allowed: a non-empty list of values")
        out[name] = [_value(path, name, v) for v in values]
    return out


def _sample(path: Path, spec: dict, seed: int, base: dict[str, Any]):
    """A SALib sample (Sobol/Saltelli or Morris) within the bounds."""
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    method = spec.get("method")
    if method not in SAMPLERS:
        raise SweepError(f"sweep file {path}: [sample] method = {method!r}; allowed: one of {', '.join(SAMPLERS)}")
    n = spec.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or n < 2 or (method == "sobol" and n & (n - 1)):
        raise SweepError(f"sweep file {path}: [sample] n = {n!r}; allowed: a whole number >= 2"
                         f"{', a power of 2 (Sobol sequence)' if method == 'sobol' else ''}")
    bounds = spec.get("bounds", {})
    if not bounds or not isinstance(bounds, dict):
        raise SweepError(f"sweep file {path}: [sample.bounds] is empty; give name = [low, high] for each parameter")
    _check_size(path, n * (len(bounds) + (2 if method == "sobol" else 1)), 1)
    for name, pair in bounds.items():
        if name not in CARTScenario.parameter_names():
            raise SweepError(f"sweep file {path}: unknown parameter '{name}'; `cartsim scenarios --parameters` lists them")
        if CARTScenario.specs()[name][0] not in (int, float):
            raise SweepError(f"sweep file {path}: [sample.bounds] {name}: only numeric parameters can be sampled")
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, int | float) for v in pair)):
            raise SweepError(f"sweep file {path}: [sample.bounds] {name} = {pair!r}; allowed: [low, high]")
        if not pair[0] < pair[1]:
            raise SweepError(f"sweep file {path}: [sample.bounds] {name} = {pair!r}; allowed: low < high")
        for v in pair:
            _in_file(path, f"[sample.bounds] {name} = {pair!r}: ", lambda: CARTScenario(**{**base, name: coerce(name, v)}))
    problem = {"num_vars": len(bounds), "names": list(bounds), "bounds": [list(map(float, b)) for b in bounds.values()]}
    if method == "sobol":
        samples = sobol_sample.sample(problem, n, calc_second_order=False, seed=seed)
    else:
        samples = morris_sample.sample(problem, n, seed=seed)
    kinds = [CARTScenario.specs()[name][0] for name in bounds]
    points = [{name: (int(round(v)) if kind is int else float(v)) for name, v, kind in zip(bounds, row, kinds)}
              for row in samples]
    return method, {k: list(map(float, v)) for k, v in bounds.items()}, samples, points


def run_one(index: int, replicate: int, params: dict[str, Any], varied: list[str]) -> dict[str, Any]:
    """One run of a sweep: the row its Parquet part holds, with the model version of the
    process that ran it (a Dask worker may run other code than the client)."""
    from sim.model import run

    summary = run(CARTScenario(**params)).summary
    row = {"run": index, "replicate": replicate, "seed": params["seed"]}
    row.update({f"param_{name}": params[name] for name in varied})
    # None (e.g. no response_day without a response) is stored as NaN, so every part has the same column types
    row.update({k: float("nan") if v is None else v for k, v in summary.items()
                if k not in row and not isinstance(v, list | dict)})
    row["responded"] = int(summary["best_response"] in OBJECTIVE_RESPONSE)
    row["model_version"] = model_version()
    return row


def _write_part(out: Path, row: dict[str, Any]) -> None:
    tmp = out / f".{PART.format(row['run'])}.{os.getpid()}.tmp"
    pd.DataFrame([row]).to_parquet(tmp, index=False)
    os.replace(tmp, out / PART.format(row["run"]))


def finished_runs(out: Path) -> set[int]:
    """Run indices whose part is on disk."""
    return {int(p.stem.split("-")[1]) for p in Path(out).glob("part-*.parquet") if p.stem.split("-")[1].isdigit()}


def _prepare(sweep: Sweep, out: Path, resume: bool) -> set[int]:
    """Check ``out`` against the sweep (a new folder, or the same sweep with --resume); write the manifest."""
    manifest = out / MANIFEST
    if out.exists() and any(p.name != outdir.LOCK_NAME for p in out.iterdir()):
        if not resume:
            raise SweepError(f"--out {out}: holds results already; add --resume to continue that sweep, or choose a new folder")
        try:
            fingerprint = json.loads(manifest.read_text()).get("fingerprint")
        except (OSError, ValueError, AttributeError):
            raise SweepError(f"--out {out}: {MANIFEST} is missing or unreadable; not a cartsim sweep folder, "
                             "choose a new folder") from None
        if fingerprint != sweep.fingerprint():
            raise SweepError(f"--out {out}: holds a different sweep or a run of another model version; "
                             "--resume needs the same sweep file and model")
        _check_parts(out)
        return finished_runs(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"name": sweep.name, "n_runs": sweep.n_runs, "method": sweep.method,
                               "fingerprint": sweep.fingerprint(), "warnings": sweep.warnings}, indent=1))
    os.replace(tmp, manifest)
    return set()


def _check_parts(out: Path) -> None:
    """Refuse to resume from a folder holding a part that is not a readable Parquet file."""
    import pyarrow.parquet as pq

    for part in sorted(out.glob("part-*.parquet")):
        try:
            pq.read_metadata(part)
        except Exception as err:  # pyarrow raises several types for damaged files
            raise SweepError(f"--out {out}: {part.name} is not a readable Parquet file ({type(err).__name__}); "
                             "remove it and --resume to run it again") from None
    for tmp in out.glob(".part-*.tmp"):  # left by a killed process; the lock says none is writing
        tmp.unlink(missing_ok=True)


def check_scheduler(address: str) -> None:
    """Refuse a Dask scheduler address that is malformed, does not answer Dask's ``identity``
    call within ``SCHEDULER_TIMEOUT_S`` seconds (nothing listening, or another service on
    that port), or has no workers, before anything is written."""
    import asyncio

    url = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = url.hostname, url.port
    except ValueError:
        host = port = None
    if url.scheme not in ("tcp", "tls") or not host or not port:
        raise SweepError(f"--scheduler {address}: allowed: a Dask scheduler address tcp://HOST:PORT")
    try:
        info = asyncio.run(asyncio.wait_for(_identity(f"{url.scheme}://{host}:{port}"), SCHEDULER_TIMEOUT_S))
    except (TimeoutError, asyncio.TimeoutError):
        raise SweepError(f"--scheduler {address}: no Dask scheduler answered within {SCHEDULER_TIMEOUT_S} s "
                         "(nothing listening there, or another service on that port)") from None
    except OSError as err:
        raise SweepError(f"--scheduler {address}: cannot connect ({err.strerror or err}); "
                         "start the scheduler or fix the address") from None
    if not isinstance(info, dict) or info.get("type") != "Scheduler":
        raise SweepError(f"--scheduler {address}: the service there is not a Dask scheduler")
    if not info.get("n_workers"):
        raise SweepError(f"--scheduler {address}: the scheduler has no workers; start `dask worker {address}` first")


async def _identity(address: str) -> Any:
    """The reply of a Dask server to the ``identity`` call."""
    from distributed.comm import connect

    comm = await connect(address, timeout=SCHEDULER_TIMEOUT_S)
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        comm.abort()


def run_sweep(sweep: Sweep | str | Path, out: str | Path, *, backend: str = "local", workers: int | None = None,
              scheduler: str | None = None, resume: bool = False, progress: bool = True) -> pd.DataFrame:
    """Run every unfinished run of ``sweep`` into ``out``; return the whole table.

    ``backend="local"``: a process pool of ``workers`` (default: all cores).
    ``backend="dask"``: the Dask scheduler at ``scheduler`` (``tcp://host:port``),
    or a ``LocalCluster`` of ``workers`` single-threaded workers when none is given.
    Results do not depend on the backend or the worker count. Everything that can
    be checked (the folder, workers, memory, the scheduler) is checked before
    anything is written; ``out`` is locked while the sweep runs. Plausibility warnings
    (``Sweep.warnings``) are printed on stderr once each, then the runs start. A run computed by
    a worker whose model version differs from this process's stops the sweep
    (:class:`SweepStopped`) without being written.
    """
    sweep = load_sweep(sweep) if not isinstance(sweep, Sweep) else sweep
    out = Path(out)
    if backend not in ("local", "dask"):
        raise SweepError(f"--backend {backend}: allowed: local, dask")
    if backend == "local" or not scheduler:
        workers = guard.check_workers(workers)
        guard.check_memory(*_largest_lattice(sweep), min(workers, sweep.n_runs))
    outdir.check_usable(out)
    if scheduler:
        check_scheduler(scheduler)
    with outdir.lock(out), executor(backend, workers, scheduler) as pool:
        done = _prepare(sweep, out, resume)
        plausibility.warn(sweep.warnings)  # once each, after every check passed (also in the manifest)
        todo = [t for t in sweep.tasks() if t[0] not in done]
        varied = sorted({name for point in sweep.points for name in point})
        version = model_version()
        with tqdm(total=sweep.n_runs, initial=len(done), unit="run", desc=sweep.name, disable=not progress) as bar:
            futures = [pool.submit(run_one, i, rep, params, varied) for i, rep, params in todo]
            try:
                for future in cf.as_completed(futures):
                    row = _result_of(future)
                    if row.get("model_version") != version:
                        raise SweepStopped(f"a worker runs model version {row.get('model_version', 'unknown')}, "
                                           f"this process {version}; install the same cartsim code on every worker")
                    _write_part(out, row)
                    bar.update()
            finally:
                for f in futures:
                    f.cancel()
    table = read_sweep(out)
    if sweep.method in SAMPLERS:
        sensitivity(sweep, table, out / ANALYSIS)
    return table


def _result_of(future: cf.Future) -> dict[str, Any]:
    """A run's row; Dask giving up on a run after repeated worker loss stops the sweep (resumable)."""
    try:
        return future.result()
    except Exception as err:
        if type(err).__name__ == "KilledWorker":  # distributed.KilledWorker, without importing Dask here
            tries = err.args[2] + 1 if len(err.args) > 2 else "several"
            raise SweepStopped(f"Dask gave up on a run after {tries} workers died running it "
                               "(see the worker logs)") from None
        raise


def _largest_lattice(sweep: Sweep) -> tuple[int, int]:
    """(width, height) of the design point with the most sites."""
    sizes = [({**sweep.base, **p}["width"], {**sweep.base, **p}["height"]) for p in sweep.points]
    return max(sizes, key=lambda wh: wh[0] * wh[1])


def process_pool(workers: int) -> cf.ProcessPoolExecutor:
    """A local pool of ``workers`` processes, started by a forkserver so workers never
    inherit the driver's threads (tqdm, Dask); see :func:`_init_worker`."""
    return cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"),
                                  initializer=_init_worker, initargs=(os.getpid(),))


def _init_worker(driver: int) -> None:
    """Make a pool worker safe to end at any moment.

    * A daemon thread ends the worker as soon as the driver process (``driver``) is gone,
      even after SIGKILL: the workers hold the forkserver's liveness pipe, so neither
      would end by itself; once the workers end, the forkserver and the resource
      tracker follow.
    * tqdm's lock is a thread lock here, not a multiprocessing semaphore, so a worker
      ended mid-run leaves no semaphore for the resource tracker to complain about.
    """
    import threading

    tqdm.set_lock(threading.RLock())
    threading.Thread(target=_exit_with, args=(driver,), daemon=True, name="exit-with-driver").start()


def _exit_with(pid: int) -> None:
    """Block until process ``pid`` ends, then end this process at once."""
    import select
    import time

    try:
        select.select([os.pidfd_open(pid)], [], [])
    except ProcessLookupError:
        pass
    except (OSError, AttributeError):  # no pidfd (old kernel, not Linux): poll
        while outdir.alive(pid):
            time.sleep(1)
    os._exit(1)


def stop_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Cancel pending work and end the worker processes now (Ctrl-C, SIGTERM): running
    tasks are abandoned, not awaited. ``_processes`` is the executor's own table of workers."""
    for process in list((pool._processes or {}).values()):
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)  # the pool sees its workers gone and cleans up its queues


class executor:
    """A concurrent.futures executor for the backend (context manager): a local process pool of
    ``workers``, the Dask scheduler at ``scheduler``, or a local Dask cluster of ``workers``."""

    def __init__(self, backend: str, workers: int | None, scheduler: str | None):
        self.backend, self.workers, self.scheduler = backend, workers, scheduler
        self.client = self.cluster = self.pool = None

    def __enter__(self) -> cf.Executor:
        if self.backend == "local":
            self.pool = process_pool(self.workers)
            return self.pool
        from distributed import Client, LocalCluster

        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout=f"{SCHEDULER_TIMEOUT_S}s")
            except (OSError, TimeoutError) as err:
                raise SweepError(f"--scheduler {self.scheduler}: no Dask scheduler answered within "
                                 f"{SCHEDULER_TIMEOUT_S} s ({type(err).__name__})") from None
        else:
            self.cluster = LocalCluster(n_workers=self.workers or os.cpu_count(), threads_per_worker=1,
                                        processes=True, dashboard_address=None)
            self.client = Client(self.cluster)
        return self.client.get_executor(pure=False)

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            if exc[0] is None:
                self.pool.shutdown()
            else:
                stop_pool(self.pool)
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def read_sweep(out: str | Path) -> pd.DataFrame:
    """The sweep table, one row per finished run, ordered by run index."""
    parts = sorted(Path(out).glob("part-*.parquet"))
    if not parts:
        return pd.DataFrame()
    return pd.read_parquet(out).sort_values("run").reset_index(drop=True)


def sensitivity(sweep: Sweep, table: pd.DataFrame, folder: Path) -> dict[str, pd.DataFrame]:
    """SALib indices per output (Sobol S1/ST, or Morris mu*/sigma) as CSV and a bar plot.

    Replicates of one sample point are averaged before the analysis.
    """
    from SALib.analyze import morris, sobol

    if len(table) < sweep.n_runs:
        return {}
    problem = {"num_vars": len(sweep.bounds), "names": list(sweep.bounds), "bounds": list(sweep.bounds.values())}
    folder.mkdir(exist_ok=True)
    results = {}
    for output in sweep.outputs:
        y = table.groupby(table.run // sweep.replicates)[output].mean().to_numpy(dtype=float)
        if sweep.method == "sobol":
            res = sobol.analyze(problem, y, calc_second_order=False, seed=sweep.seed)
            frame = pd.DataFrame({"parameter": problem["names"], "S1": res["S1"], "S1_conf": res["S1_conf"],
                                  "ST": res["ST"], "ST_conf": res["ST_conf"]})
        else:
            res = morris.analyze(problem, sweep.samples, y, seed=sweep.seed)
            frame = pd.DataFrame({"parameter": problem["names"], "mu_star": res["mu_star"],
                                  "mu_star_conf": res["mu_star_conf"], "sigma": res["sigma"]})
        frame.to_csv(folder / f"{sweep.method}_{output}.csv", index=False)
        results[output] = frame
    _plot_sensitivity(sweep.method, results, folder / f"{sweep.method}.png")
    return results


def _plot_sensitivity(method: str, results: dict[str, pd.DataFrame], path: Path) -> None:
    from sim.plots import plt, save

    fig, axes = plt.subplots(1, len(results), figsize=(4.5 * len(results), 3.8), squeeze=False)
    for ax, (output, frame) in zip(axes[0], results.items()):
        x = np.arange(len(frame))
        if method == "sobol":
            ax.bar(x - 0.2, frame.S1, 0.4, yerr=frame.S1_conf, label="first order S1", capsize=2)
            ax.bar(x + 0.2, frame.ST, 0.4, yerr=frame.ST_conf, label="total ST", capsize=2)
            ax.set_ylabel("Sobol index")
        else:
            ax.bar(x, frame.mu_star, yerr=frame.mu_star_conf, capsize=2, label="mu*")
            ax.set_ylabel("Morris mu*")
        ax.set_xticks(x, frame.parameter, rotation=30, ha="right")
        ax.set_title(output)
        ax.legend(fontsize=8)
    save(fig, path)
