"""What the experiment scripts share: command-line options, running their sweep file, writing their results."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pandas as pd

from sim.plots import save
from sim.sweep import load_sweep, run_sweep

HERE = Path(__file__).parent


def options(doc: str, patients: int | None = None, seed: int | None = None,
            replicates: int | None = None, only: list[str] | None = None,
            sweep_seed: bool = False, overrides: bool = False) -> argparse.Namespace:
    """--workers, --runs (raw Parquet runs, resumable), --out (CSV + figure), for trials --patients,
    --seed (the base seed, to rerun on another seed set; with ``sweep_seed`` its default is the
    sweep file's seed), --replicates, --only (a subset of ``only``'s names) and, with ``overrides``,
    --set NAME=VALUE (repeatable; parameters for a probe) where the script has them."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    if patients is not None:
        parser.add_argument("--patients", type=int, default=patients, help="patients screened per trial")
    if seed is not None:
        parser.add_argument("--seed", type=int, default=seed, help=f"base seed (default {seed}); rerun with another "
                                                                  "to check that results hold on unseen seeds")
    elif sweep_seed:
        parser.add_argument("--seed", type=int, default=None, help="base seed (default: the sweep file's); rerun "
                                                                   "with another to check that results hold on unseen seeds")
    if only is not None:
        parser.add_argument("--only", nargs="+", choices=only, default=None, metavar="NAME",
                            help="rerun only these and keep the other rows of the table already written")
    if replicates is not None:
        parser.add_argument("--replicates", type=int, default=replicates,
                            help=f"seeds per condition (default {replicates}; fewer for a quick look)")
    if overrides:
        parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                            help="a parameter for every scenario of the experiment (a probe; its results are "
                                 "written beside the experiment's, not over them)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--runs", type=Path, default=HERE / "out", help="folder for the raw sweep runs")
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "experiments",
                        help="folder for the CSV and the figure")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def sweep_table(name: str, args: argparse.Namespace) -> pd.DataFrame:
    """Run (or resume, or just read) the sweep ``experiments/NAME.toml``, with ``--seed`` as its base
    seed when given (raw runs in ``NAME_seedS``); return its table."""
    sweep = load_sweep(HERE / f"{name}.toml")
    folder = seeded(name, args, sweep.seed)
    if folder != name:
        sweep = dataclasses.replace(sweep, seed=args.seed)
    return run_sweep(sweep, args.runs / folder, workers=args.workers, resume=True)


def seeded(name: str, args: argparse.Namespace, default_seed: int | None = None) -> str:
    """``NAME_seedS`` when ``--seed S`` differs from the experiment's own seed (``default_seed``; for a
    sweep, its file's), else ``NAME``: the outputs of another seed set go beside the first."""
    if default_seed is None:
        default_seed = load_sweep(HERE / f"{name}.toml").seed
    seed = getattr(args, "seed", None)
    return name if seed is None or seed == default_seed else f"{name}_seed{seed}"


def merge_rerun(args: argparse.Namespace, name: str, table: pd.DataFrame, key: str, order: list[str]) -> pd.DataFrame:
    """With ``--only``, the table already written as ``NAME.csv`` with the rerun rows of ``table``
    in place of its own (rows matched by column ``key``, listed in ``order``); without it, ``table``.
    Refuses a table written with another number of screened patients."""
    if not args.only:
        return table
    kept = pd.read_csv(args.out / f"{name}.csv")
    if set(kept.n_screened) != {args.patients}:
        raise SystemExit(f"--only: {name}.csv was written with {set(kept.n_screened)} screened, not {args.patients}")
    names = set(kept[key]) | set(args.only)
    return pd.concat([kept[~kept[key].isin(args.only)], table]).set_index(key).loc[
        [n for n in order if n in names]].reset_index()


def publish(args: argparse.Namespace, name: str, table: pd.DataFrame, fig=None, index: bool = False) -> None:
    """Write ``NAME.csv`` (and the figure as ``NAME.png``) into ``--out`` and print the table."""
    table.to_csv(args.out / f"{name}.csv", index=index)
    if fig is not None:
        save(fig, args.out / f"{name}.png")
    print(table.round(3).to_string(index=index))
