"""What decides a virtual patient's response: logistic regression of response on the patients' traits.

    python experiments/response_traits.py [--patients 200] [--seed 2026] [--workers K] [--only PRESET ...]

For each preset, a virtual trial (``--patients`` screened); among the treated patients,
response (CR or PR) is regressed on their standardised traits (suppression, product
fitness, antigen-negative share, antigen density scale, log burden, blood expansion rate,
stroma scale, lesion diameter). A coefficient is the change in the log-odds of response per
standard deviation of the trait in that population. The fit is Firth's penalised logistic
regression (``firthmodels``; Firth, Biometrika 1993; Heinze and Schemper, Stat Med 2002) with
penalised likelihood-ratio p-values and profile-likelihood 95% CIs: where a trait nearly
decides response alone (quasi-separation, as suppression does in these trials) maximum
likelihood drifts towards infinite coefficients, while Firth's estimates stay finite and
nearly unbiased.

Writes docs/experiments/response_traits.csv and response_traits.png (``response_traits_seedS``
with another trial seed).
"""

from common import options, publish, seeded

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from firthmodels import FirthLogisticRegression

from sim import load_scenario
from sim.imaging import OBJECTIVE_RESPONSE
from sim.trial import run_trial

DEFAULT_SEED = 2026
"""Trial seed of the published table, as the clinical table's."""
PRESETS = ["gastric-cldn18-iv", "neuroblastoma-gd2-iv"]
"""A row that reads low and one that reads high in the clinical table."""
TRAITS = ["suppression", "tcell_fitness", "antigen_negative_fraction", "antigen_density_scale", "log_burden",
          "expansion_rate_per_day", "stroma_scale", "lesion_diameter_mm"]


def main() -> None:
    args = options(__doc__, patients=200, seed=DEFAULT_SEED, only=PRESETS)
    rows = []
    for preset in args.only or PRESETS:
        trial = run_trial(load_scenario(preset), args.patients, seed=args.seed, workers=args.workers)
        rows += traits_of_response(preset, trial.patients)
    table = pd.DataFrame(rows)
    publish(args, seeded("response_traits", args, DEFAULT_SEED), table, draw(table))


def traits_of_response(preset: str, patients: pd.DataFrame) -> list[dict]:
    """One row per trait: log-odds of response per standard deviation of the trait among the treated, its p-value
    and 95% CI, with the trial's size and ORR."""
    treated = patients[patients.eligible].copy()
    treated["log_burden"] = np.log(treated.tumor_burden_cm3)
    responded = treated.best_response.isin(OBJECTIVE_RESPONSE).astype(int)
    x = treated[TRAITS]
    fit = FirthLogisticRegression(max_iter=200).fit(((x - x.mean()) / x.std()).to_numpy(), responded.to_numpy())
    fit.lrt()
    ci = fit.conf_int(method="pl", max_iter=200)
    return [{"preset": preset, "trait": trait, "sd": round(float(x[trait].std()), 4),
             "log_odds_per_sd": fit.coef_[i], "low95": ci[i, 0], "high95": ci[i, 1],
             "p": fit.lrt_pvalues_[i], "treated": len(treated), "orr": float(responded.mean())}
            for i, trait in enumerate(TRAITS)]


def draw(table: pd.DataFrame):
    """Log-odds per sd with 95% CIs, one panel per preset."""
    presets = list(dict.fromkeys(table.preset))
    fig, axes = plt.subplots(1, len(presets), figsize=(5 * len(presets), 4), sharey=True, squeeze=False)
    for ax, preset in zip(axes[0], presets):
        t = table[table.preset == preset]
        y = np.arange(len(t))
        ax.errorbar(t.log_odds_per_sd, y, xerr=[t.log_odds_per_sd - t.low95, t.high95 - t.log_odds_per_sd],
                    fmt="o", capsize=3)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(y, t.trait)
        ax.set_xlabel("log-odds of response per sd\n(Firth fit, profile-likelihood 95% CI)")
        ax.set_title(f"{preset}: {t.treated.iloc[0]} treated, ORR {100 * t.orr.iloc[0]:.0f}%", fontsize=10)
    axes[0][0].invert_yaxis()   # the panels share it: the first trait on top
    fig.tight_layout()
    return fig


if __name__ == "__main__":  # the trial's worker processes import this file
    main()
