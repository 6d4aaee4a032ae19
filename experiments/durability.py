"""Durability of marrow remissions: the CD19 and BCMA virtual trials followed to day 180.

    python experiments/durability.py [--patients 60] [--seed 2026] [--workers K] [--only PRESET ...]
                                     [--set NAME=VALUE ...]

For each marrow preset, the clinical table's trial (same patients for a seed) run to day 180:
treated, ORR, CR, responders relapsed by day 84 and by day 180 and how many of those carried a
pre-existing antigen-negative clone, and the share of responders relapse-free at day 180 with its
Wilson 95% CI, beside REFERENCE.md (ELIANA: about 80% of CD19 responders relapse-free at 6 months,
most relapses CD19-negative; no row for BCMA). A relapse is progression after a response by the
disease's own criteria (``sim.imaging.assess_marrow``), dated by its first progression scan.

Writes docs/experiments/durability.csv and durability.png (Kaplan-Meier share of responders not yet
relapsed, per preset). ``--set`` runs a probe of shared parameters (e.g. ``--set
trogocytosis_loss=0.2``): its results go to durability_probe-NAME-VALUE.csv beside the model's,
never over them.
"""

from common import options, publish, seeded

import matplotlib.pyplot as plt
import pandas as pd

from sim import load_scenario
from sim.imaging import OBJECTIVE_RESPONSE
from sim.scenario import parse_overrides
from sim.survival import kaplan_meier
from sim.trial import run_trial, wilson

DEFAULT_SEED = 2026
"""Trial seed of the published table (as the clinical table's)."""
PRESETS = ["ball-cd19-iv", "myeloma-bcma-iv"]
DAYS = 180
REFERENCE_RELAPSE_FREE = {"CD19": 0.80}
"""Share of responders relapse-free at 6 months (REFERENCE.md: ELIANA, Maude et al., NEJM 2018, approx.)."""


def durability(patients: pd.DataFrame) -> dict:
    """Response and relapse counts of one trial's treated patients, and the share of responders
    relapse-free at day ``DAYS`` with its Wilson 95% CI."""
    treated = patients[patients.eligible]
    responders = treated[treated.best_response.isin(OBJECTIVE_RESPONSE)]
    relapsed = responders[responders.relapse.astype(bool)]
    n = len(responders)
    free = n - len(relapsed)
    low, high = wilson(free, n) if n else (float("nan"), float("nan"))
    return {
        "n_treated": len(treated), "orr": n / len(treated) if len(treated) else float("nan"),
        "complete_responses": int((responders.best_response == "CR").sum()), "responders": n,
        "relapsed_by_day_84": int((relapsed.pfs_days <= 84).sum()), "relapsed_by_day_180": len(relapsed),
        "relapses_with_negative_clone": int(relapsed.negative_clone.sum()),
        "relapse_free_180": free / n if n else float("nan"), "relapse_free_low95": low, "relapse_free_high95": high,
        "median_blood_peak": float(treated.cart_peak.median()),
    }


def main() -> None:
    args = options(__doc__, patients=60, seed=DEFAULT_SEED, only=PRESETS, overrides=True)
    overrides = parse_overrides(args.set)
    name = seeded("durability", args, DEFAULT_SEED)
    if overrides:
        name += "_probe-" + "-".join(f"{k}-{v}" for k, v in sorted(overrides.items()))
    rows, courses = [], {}
    for preset in args.only or PRESETS:
        trial = run_trial(load_scenario(preset, {**overrides, "days": DAYS}), args.patients, seed=args.seed,
                          workers=args.workers)
        target = trial.summary["target"]
        rows.append({"preset": preset, "target": target, "seed": args.seed, "n_screened": args.patients,
                     **durability(trial.patients), "reference_relapse_free": REFERENCE_RELAPSE_FREE.get(target)})
        courses[target] = trial.patients
        print(rows[-1], flush=True)
    publish(args, name, pd.DataFrame(rows), draw(courses))


def draw(patients_by_target: dict[str, pd.DataFrame]):
    """Kaplan-Meier share of each trial's responders not yet relapsed, by day since infusion (a relapse
    dated by its first progression scan), with ELIANA's mark at about 6 months."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for target, patients in patients_by_target.items():
        responders = patients[patients.eligible & patients.best_response.isin(OBJECTIVE_RESPONSE)]
        if len(responders):
            kaplan_meier(responders.pfs_days, responders.relapse.astype(bool),
                         label=f"{target} (n={len(responders)})").plot_survival_function(ax=ax)
    for target, share in REFERENCE_RELAPSE_FREE.items():
        ax.plot([DAYS], [share], "k*", markersize=11, label=f"{target} reference at 6 months (ELIANA)")
    ax.set_xlabel("days since infusion")
    ax.set_ylabel("responders without relapse")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(f"marrow remissions followed to day {DAYS}")
    return fig


if __name__ == "__main__":  # trial worker processes import this file
    main()
