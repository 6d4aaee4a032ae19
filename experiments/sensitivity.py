"""Global sensitivity: Sobol first-order and total indices (SALib) of three outputs to six parameters.

    python experiments/sensitivity.py [--workers K]

Writes docs/experiments/sensitivity.csv (one row per output and parameter) and sensitivity.png.
"""

import shutil

from common import options, publish, sweep_table

import pandas as pd


def main() -> None:
    args = options(__doc__)
    sweep_table("sensitivity", args)
    analysis = args.runs / "sensitivity" / "_analysis"
    frames = [pd.read_csv(p).assign(output=p.stem.removeprefix("sobol_")) for p in sorted(analysis.glob("sobol_*.csv"))]
    shutil.copy(analysis / "sobol.png", args.out / "sensitivity.png")
    publish(args, "sensitivity", pd.concat(frames))


if __name__ == "__main__":  # the sweep's worker processes import this file
    main()
