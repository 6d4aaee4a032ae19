"""Global sensitivity: Sobol first-order and total indices (SALib) of three outputs to six parameters.

    python experiments/sensitivity.py [--workers K]

Writes docs/experiments/sensitivity.csv (one row per output and parameter) and sensitivity.png.
"""

import shutil

from common import options, sweep_table

import pandas as pd


def main() -> None:
    args = options(__doc__)
    sweep_table("sensitivity", args)
    analysis = args.runs / "sensitivity" / "_analysis"
    frames = [pd.read_csv(p).assign(output=p.stem.removeprefix("sobol_")) for p in sorted(analysis.glob("sobol_*.csv"))]
    pd.concat(frames).to_csv(args.out / "sensitivity.csv", index=False)
    shutil.copy(analysis / "sobol.png", args.out / "sensitivity.png")
    print(pd.concat(frames).round(3).to_string(index=False))


if __name__ == "__main__":  # the sweep's worker processes import this file
    main()
