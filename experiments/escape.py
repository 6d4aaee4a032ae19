"""Antigen escape: heterogeneity at the start against response, relapse and antigen-negative share at the end.

    python experiments/escape.py [--seed S] [--workers K]

Writes docs/experiments/escape.csv and escape.png.
"""

from common import options, publish, seeded, sweep_table

import matplotlib.pyplot as plt

def main() -> None:
    args = options(__doc__, sweep_seed=True)
    table = sweep_table("escape", args)
    summary = table.groupby("param_antigen_negative_fraction").agg(
        response_rate=("responded", "mean"), relapse_rate=("relapse", "mean"),
        negative_at_end=("antigen_negative_fraction_end", "mean")).reset_index()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    start = 100 * summary.param_antigen_negative_fraction
    axes[0].plot(start, 100 * summary.response_rate, "o-", label="response (CR+PR)")
    axes[0].plot(start, 100 * summary.relapse_rate, "s-", label="relapse after response")
    axes[0].set_ylabel("% of runs")
    axes[1].scatter(100 * table.param_antigen_negative_fraction, 100 * table.antigen_negative_fraction_end, alpha=0.5)
    axes[1].plot([0, 100], [0, 100], color="0.6", ls="--", label="no selection")
    axes[1].set_ylabel("antigen-negative tumour cells at day 84 (%)")
    for ax in axes:
        ax.set_xlabel("antigen-negative tumour cells at the start (%)")
        ax.legend(fontsize=8)
    fig.suptitle("intratumoral CAR-T, gastric lesion: heterogeneity selects antigen-negative relapse")
    publish(args, seeded("escape", args), summary, fig)


if __name__ == "__main__":  # the sweep's worker processes import this file
    main()
