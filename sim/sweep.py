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
import multiprocessing
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from sim.scenario import CARTScenario, ScenarioError, coerce, load_scenario

PART = "part-{:06d}.parquet"
MANIFEST = "_manifest.json"
ANALYSIS = "_analysis"
SAMPLERS = ("sobol", "morris")


class SweepError(ScenarioError):
    """A sweep file or output folder that cannot be used (one line)."""


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


def model_version() -> str:
    """Hash of the model's source and data tables: runs from different versions never mix on resume."""
    import hashlib

    from sim import tables

    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted([*package.glob("*.py"), *tables.seeds_dir().rglob("*.toml")]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def load_sweep(path: str | Path) -> Sweep:
    """Parse and validate a sweep file; raise SweepError with a one-line message."""
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text())
    except OSError as err:
        raise SweepError(f"sweep file {path}: cannot be read ({err.strerror})") from None
    except tomllib.TOMLDecodeError as err:
        raise SweepError(f"sweep file {path}: malformed TOML ({err})") from None
    known = {"base", "replicates", "seed", "outputs", "set", "grid", "list", "sample", "description"}
    if unknown := sorted(set(spec) - known):
        raise SweepError(f"sweep file {path}: unknown key '{unknown[0]}'; allowed: {', '.join(sorted(known))}")
    replicates = spec.get("replicates", 1)
    if not isinstance(replicates, int) or isinstance(replicates, bool) or replicates < 1:
        raise SweepError(f"sweep file {path}: replicates = {replicates!r}; allowed: a whole number >= 1")
    seed = spec.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise SweepError(f"sweep file {path}: seed = {seed!r}; allowed: a whole number >= 0")
    base_source = spec.get("base")
    if isinstance(base_source, str) and base_source.endswith(".toml"):
        base_source = path.parent / base_source
    fixed = {name: _value(path, name, v) for name, v in spec.get("set", {}).items()}
    base = load_scenario(base_source, fixed).params()
    base.pop("seed")

    method, bounds, samples = "grid", {}, None
    if "sample" in spec:
        if "grid" in spec or "list" in spec:
            raise SweepError(f"sweep file {path}: [sample] cannot be combined with [grid] or [list]")
        method, bounds, samples, points = _sample(path, spec["sample"], seed)
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
        points = [{**row, **dict(zip(grid, combo))} for row in rows for combo in itertools.product(*grid.values())]

    outputs = spec.get("outputs", ["best_pct_change", "responded"])
    for point in points:  # validate every design point now, before anything runs
        CARTScenario(**{**base, **point})
    return Sweep(path.stem, base, points, replicates, seed, list(outputs), method, bounds, samples)


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


def _sample(path: Path, spec: dict, seed: int):
    """A SALib sample (Sobol/Saltelli or Morris) within the bounds."""
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    method = spec.get("method")
    if method not in SAMPLERS:
        raise SweepError(f"sweep file {path}: [sample] method = {method!r}; allowed: one of {', '.join(SAMPLERS)}")
    n = spec.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise SweepError(f"sweep file {path}: [sample] n = {n!r}; allowed: a whole number >= 2 (a power of 2 for sobol)")
    bounds = spec.get("bounds", {})
    if not bounds:
        raise SweepError(f"sweep file {path}: [sample.bounds] is empty; give name = [low, high] for each parameter")
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
            coerce(name, v)
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
    """One run of a sweep: the row its Parquet part holds."""
    from sim.model import run

    summary = run(CARTScenario(**params)).summary
    row = {"run": index, "replicate": replicate, "seed": params["seed"]}
    row.update({f"param_{name}": params[name] for name in varied})
    # None (e.g. no response_day without a response) is stored as NaN, so every part has the same column types
    row.update({k: float("nan") if v is None else v for k, v in summary.items()
                if k not in row and not isinstance(v, list | dict)})
    row["responded"] = int(summary["best_response"] in ("CR", "PR"))
    return row


def _write_part(out: Path, row: dict[str, Any]) -> None:
    tmp = out / f".{PART.format(row['run'])}.tmp"
    pd.DataFrame([row]).to_parquet(tmp, index=False)
    os.replace(tmp, out / PART.format(row["run"]))


def finished_runs(out: Path) -> set[int]:
    """Run indices whose part is on disk."""
    return {int(p.stem.split("-")[1]) for p in out.glob("part-*.parquet")}


def _prepare(sweep: Sweep, out: Path, resume: bool) -> set[int]:
    manifest = out / MANIFEST
    if out.exists() and any(out.iterdir()):
        if not resume:
            raise SweepError(f"--out {out}: holds results already; add --resume to continue that sweep, or choose a new folder")
        if not manifest.exists() or json.loads(manifest.read_text()).get("fingerprint") != sweep.fingerprint():
            raise SweepError(f"--out {out}: holds a different sweep or a run of another model version; "
                             "--resume needs the same sweep file and model")
        return finished_runs(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps({"name": sweep.name, "n_runs": sweep.n_runs, "method": sweep.method,
                               "fingerprint": sweep.fingerprint()}, indent=1))
    os.replace(tmp, manifest)
    return set()


def run_sweep(sweep: Sweep | str | Path, out: str | Path, *, backend: str = "local", workers: int | None = None,
              scheduler: str | None = None, resume: bool = False, progress: bool = True) -> pd.DataFrame:
    """Run every unfinished run of ``sweep`` into ``out``; return the whole table.

    ``backend="local"``: a process pool of ``workers`` (default: all cores).
    ``backend="dask"``: the Dask scheduler at ``scheduler`` (``tcp://host:port``),
    or a ``LocalCluster`` of ``workers`` single-threaded workers when none is given.
    Results do not depend on the backend or the worker count.
    """
    sweep = load_sweep(sweep) if not isinstance(sweep, Sweep) else sweep
    out = Path(out)
    if backend not in ("local", "dask"):
        raise SweepError(f"--backend {backend}: allowed: local, dask")
    if workers is not None and workers < 1:
        raise SweepError(f"--workers {workers}: allowed: a whole number >= 1")
    done = _prepare(sweep, out, resume)
    todo = [t for t in sweep.tasks() if t[0] not in done]
    varied = sorted({name for point in sweep.points for name in point})
    with _executor(backend, workers, scheduler) as pool, \
            tqdm(total=sweep.n_runs, initial=len(done), unit="run", desc=sweep.name, disable=not progress) as bar:
        futures = [pool.submit(run_one, i, rep, params, varied) for i, rep, params in todo]
        try:
            for future in cf.as_completed(futures):
                _write_part(out, future.result())
                bar.update()
        finally:
            for f in futures:
                f.cancel()
    table = read_sweep(out)
    if sweep.method in SAMPLERS:
        sensitivity(sweep, table, out / ANALYSIS)
    return table


def process_pool(workers: int | None) -> cf.ProcessPoolExecutor:
    """A local pool of ``workers`` processes (default: all cores), started by a forkserver
    so workers never inherit the driver's threads (tqdm, Dask)."""
    return cf.ProcessPoolExecutor(max_workers=workers or os.cpu_count(),
                                  mp_context=multiprocessing.get_context("forkserver"))


class _executor:
    """A concurrent.futures executor for the backend (context manager)."""

    def __init__(self, backend: str, workers: int | None, scheduler: str | None):
        self.backend, self.workers, self.scheduler = backend, workers, scheduler
        self.client = self.cluster = self.pool = None

    def __enter__(self) -> cf.Executor:
        if self.backend == "local":
            self.pool = process_pool(self.workers)
            return self.pool
        from distributed import Client, LocalCluster

        if self.scheduler:
            self.client = Client(self.scheduler)
        else:
            self.cluster = LocalCluster(n_workers=self.workers or os.cpu_count(), threads_per_worker=1,
                                        processes=True, dashboard_address=None)
            self.client = Client(self.cluster)
        return self.client.get_executor(pure=False)

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=exc[0] is None, cancel_futures=True)
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
