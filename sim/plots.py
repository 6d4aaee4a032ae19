"""Matplotlib figures: a run (time course, lattice) and a trial (waterfall, spider, swimmer, Kaplan-Meier)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from sim.phenotype import Phenotype  # noqa: E402

CALL_COLOURS = {"CR": "#1a9850", "PR": "#91cf60", "SD": "#fee08b", "PD": "#d73027", "NE": "#bdbdbd"}
PHENOTYPE_COLOURS = {Phenotype.EFFECTOR: "#00c853", Phenotype.MEMORY: "#2962ff", Phenotype.EXHAUSTED: "#212121"}
ANTIGEN_CMAP = LinearSegmentedColormap.from_list("antigen", ["#fdd0a2", "#f16913", "#7f2704"])
"""Tumour cells: light (antigen-low) to dark orange (antigen-high)."""
NEGATIVE_COLOUR = (0.55, 0.25, 0.75)
NORMAL_COLOUR = (0.80, 0.87, 0.95)
STROMA_COLOUR = np.array((0.87, 0.80, 0.62))
VESSEL_COLOUR = (0.85, 0.10, 0.10)
DEBRIS_COLOUR = (0.45, 0.45, 0.45)
SCAR_COLOUR = (0.93, 0.72, 0.80)
"""Granulation/scar tissue in a killed or resected site, while it blocks regrowth (``repair`` >= 0.5)."""
LATTICE_KEY = (
    (ANTIGEN_CMAP(0.9), "dark orange", "tumour, antigen high"),
    (ANTIGEN_CMAP(0.1), "light orange", "tumour, antigen low"),
    (NEGATIVE_COLOUR, "violet", "tumour, antigen-negative"),
    (NORMAL_COLOUR, "light blue", "normal tissue"),
    (STROMA_COLOUR, "tan", "stroma"),
    (VESSEL_COLOUR, "red", "vessel"),
    (DEBRIS_COLOUR, "grey", "debris"),
    (SCAR_COLOUR, "pink", "scar (killed site, no regrowth)"),
    ((1.0, 1.0, 1.0), "white", "empty (free for regrowth)"),
    (PHENOTYPE_COLOURS[Phenotype.EFFECTOR], "green", "CAR-T effector"),
    (PHENOTYPE_COLOURS[Phenotype.MEMORY], "blue", "CAR-T memory"),
    (PHENOTYPE_COLOURS[Phenotype.EXHAUSTED], "black", "CAR-T exhausted"),
)
"""The lattice's colour key, (colour, its name in words, what it shows): the figure's legend
and the app's caption (:func:`lattice_key_text`) both read it."""


def lattice_key_text() -> str:
    """The lattice's colour key as one line of text (the app's caption)."""
    return "; ".join(f"{word}: {meaning}" for _, word, meaning in LATTICE_KEY) + "."


def timecourse(result, path) -> None:
    """Four panels: lesion size with RECIST calls, antigen-negative share, CAR-T, cytokine.

    ``result``: a :class:`sim.figure_worker.RunView` (``timeseries`` and ``scans`` as
    columns of numpy arrays, ``summary``, ``scenario``)."""
    figure = TimecourseFigure()
    try:
        figure.draw(result, path)
    finally:
        figure.close()


class TimecourseFigure:
    """The time-course figure of :func:`timecourse`, built once and drawn for one run after another.

    Drawing a figure that has been drawn before costs about two thirds of a new one
    (its axes, ticks and text caches exist): the figure helper of ``cartsim run``
    (:mod:`sim.figure_worker`) draws a throw-away run into one while the simulation runs,
    then the real run. Each :meth:`draw` gives the same image as a new figure would.
    """

    PHENOTYPES = (("effector", Phenotype.EFFECTOR), ("memory", Phenotype.MEMORY), ("exhausted", Phenotype.EXHAUSTED))

    def __init__(self):
        fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
        fig.subplots_adjust(left=0.065, right=0.935, bottom=0.07, top=0.91, wspace=0.32, hspace=0.2)  # fixed: fast
        self.fig, self.scan_marks = fig, []
        self.size, self.escape, self.cart, self.cytokine = axes.flat
        self.apparent = self.size.plot([], [], color="#6a3d9a", label="apparent (imaging)")[0]
        self.viable = self.size.plot([], [], color="#e6550d", label="viable tumour")[0]
        self.scanned = self.size.plot([], [], "o", color="#6a3d9a", ms=4.2, zorder=3)[0]
        self.size.set_ylabel("longest diameter (mm)")
        self.size.legend(loc="best", fontsize=8)

        self.negative = self.escape.plot([], [], color=NEGATIVE_COLOUR)[0]
        self.escape.set_ylabel("antigen-negative tumour cells (%)")
        self.escape.set_ylim(0, 100)
        self.cells_axis = self.escape.twinx()
        self.cells = self.cells_axis.plot([], [], color="#e6550d", ls="--", lw=1)[0]
        self.cells_axis.set_ylabel("viable tumour cells on lattice", color="#e6550d")
        self.escape.set_title("antigen escape")

        self.lesion = {name: self.cart.plot([], [], color=PHENOTYPE_COLOURS[phen], label=f"lesion {name}")[0]
                       for name, phen in self.PHENOTYPES}
        self.cart.set_ylabel("CAR-T cells in lesion (agents)")
        self.outside = self.cart.twinx()
        self.outside.set_yscale("log")
        self.blood = self.outside.plot([], [], color="#b2182b", ls="--", label="blood")[0]
        self.region = self.outside.plot([], [], color="#8c6d31", ls=":", label="region (cavity, liver, CSF)")[0]
        self.outside.set_ylabel("CAR-T cells outside the lesion (cells)", color="#b2182b")
        self.cart.set_title("CAR-T expansion and persistence")
        self.cart.set_xlabel("days after infusion")

        self.level = self.cytokine.plot([], [], color="#d95f0e")[0]
        self.cytokine.set_ylabel("systemic cytokine index (CRS proxy)")
        self.cytokine.set_xlabel("days after infusion")

    def draw(self, result, path) -> None:
        """Draw ``result`` (as :func:`timecourse` takes it) and write the figure to ``path``."""
        ts, scans, s, summary = result.timeseries, result.scans, result.scenario, result.summary
        days = ts["day"]
        for mark in self.scan_marks:
            mark.remove()
        self.scan_marks = []
        self.apparent.set_data(days, ts["apparent_mm"])
        self.viable.set_data(days, ts["viable_mm"])
        self.scanned.set_data(scans["day"], scans["apparent_mm"])
        for day, mm, call, irecist in zip(scans["day"], scans["apparent_mm"], scans["call"], scans["irecist"]):
            self.scan_marks.append(self.size.axvline(day, color="0.85", lw=0.8, zorder=0))
            if call:
                self.scan_marks.append(self.size.annotate(
                    irecist if irecist.endswith("UPD") else call, (day, mm),
                    xytext=(0, 8), textcoords="offset points", ha="center", fontsize=9, weight="bold",
                    bbox=dict(boxstyle="round,pad=0.2", fc=CALL_COLOURS[call], ec="none")))
        self.size.set_title(f"lesion (best response {summary['best_response']}, {_pct(summary['best_pct_change'])})")

        self.negative.set_data(days, 100 * ts["antigen_negative_fraction"])
        self.cells.set_data(days, ts["tumor_cells"])

        for name, _ in self.PHENOTYPES:
            self.lesion[name].set_data(days, ts[f"cart_{name}"])
        self.blood.set_data(days, np.maximum(ts["cart_blood"], 1))
        self.region.set_data(days, np.maximum(ts["cart_region"], 1))
        self.region.set_visible(bool(ts["cart_region"].max() > 0))

        self.level.set_data(days, ts["cytokine"])
        self.cytokine.set_title(f"toxicity: CRS grade {summary['crs_grade']}, "
                                f"normal cells killed {100 * summary['normal_cells_killed_fraction']:.1f}%")
        self.fig.suptitle(f"{s.target} / {s.site} / {s.route}, dose {s.dose:.2g} cells, seed {s.seed}")

        for ax in (self.size, self.escape, self.cells_axis, self.cart, self.outside, self.cytokine):
            ax.set_autoscalex_on(True)
            ax.set_autoscaley_on(ax is not self.escape)  # the share of antigen-negative cells stays 0-100%
            ax.relim(visible_only=True)
            ax.autoscale_view()
        # headroom above every curve (a third of each axis) for one legend of both axes
        self.cart.set_ylim(0, 1.5 * max(1, self.cart.get_ylim()[1]))
        low, high = self.outside.get_ylim()
        self.outside.set_ylim(low, high * (high / low) ** 0.5)
        handles = [*self.lesion.values(), self.blood] + ([self.region] if self.region.get_visible() else [])
        self.outside.legend(handles=handles, loc="upper center", ncol=3, fontsize=7, frameon=False)
        self.fig.savefig(path, dpi=SAVE_DPI)

    def close(self) -> None:
        """Free the figure."""
        plt.close(self.fig)


def lattice_rgb(model) -> np.ndarray:
    """RGB image (height x width x 3, origin lower) of the tissue, stroma, scar, vessels and debris."""
    t = model.tissue
    rgb = np.ones(t.shape + (3,))
    rgb = rgb * (1 - t.stroma[..., None] * 0.6) + STROMA_COLOUR * t.stroma[..., None] * 0.6
    rgb[t.repair >= 0.5] = SCAR_COLOUR
    rgb[t.normal] = NORMAL_COLOUR
    rgb[t.debris > 0.3] = DEBRIS_COLOUR
    negative = t.antigen_negative
    positive = t.tumor & ~negative
    rgb[positive] = ANTIGEN_CMAP(np.clip(t.antigen[positive], 0, 1.2) / 1.2)[:, :3]
    rgb[negative] = NEGATIVE_COLOUR
    rgb[t.vessel] = VESSEL_COLOUR
    return np.transpose(rgb, (1, 0, 2))


def draw_lattice(model, ax) -> None:
    """Draw the lattice with CAR-T cells by phenotype on ``ax``."""
    cart = {phen: np.array([a.cell.coordinate for a in model.agents if a.phenotype == phen]).reshape(-1, 2)
            for phen in PHENOTYPE_COLOURS}
    _draw_lattice(ax, lattice_rgb(model), cart)


def _draw_lattice(ax, rgb: np.ndarray, cart: dict) -> None:
    """``rgb`` (``lattice_rgb``) with the CAR-T cells of ``cart`` (phenotype -> (n, 2) coordinates)."""
    ax.imshow(rgb, origin="lower", interpolation="nearest")
    for phen, colour in PHENOTYPE_COLOURS.items():
        xy = cart.get(phen, np.empty((0, 2)))
        ax.scatter(xy[:, 0], xy[:, 1], s=9, c=colour, edgecolors="white", linewidths=0.3)
    ax.set_xticks([])
    ax.set_yticks([])


def lattice(view, path) -> None:
    """The final lattice with a legend, from a :class:`sim.figure_worker.RunView`."""
    fig, ax = plt.subplots(figsize=(8, 6.4))
    fig.subplots_adjust(left=0.02, right=0.71, bottom=0.02, top=0.93)  # fixed: fast
    _draw_lattice(ax, lattice_rgb(view), view.cart)
    handles = [Patch(facecolor=colour, edgecolor="0.6", linewidth=0.3, label=meaning)
               for colour, _, meaning in LATTICE_KEY]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    n_cart = sum(len(xy) for xy in view.cart.values())
    ax.set_title(f"day {view.scenario.days}: {view.summary['final_tumor_cells']} tumour cells, "
                 f"{n_cart} CAR-T cell{'' if n_cart == 1 else 's'}")
    save(fig, path, layout=False)


def heatmap(ax, table, title: str, fmt: str = "{:.0%}", vmin: float = 0.0, vmax: float = 1.0, cmap: str = "viridis",
            notes=None):
    """Annotated heat map of a 2D table (pandas DataFrame: rows x columns); NaN cells blank.

    ``notes``: an optional table of the same shape whose non-empty strings are printed
    under a cell's value (e.g. how many runs had severe toxicity).
    """
    values = table.to_numpy(dtype=float)
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns], rotation=30, ha="right")
    ax.set_yticks(range(table.shape[0]), [str(i) for i in table.index])
    extra = notes.reindex_like(table).fillna("").to_numpy(dtype=str) if notes is not None else None
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            text = fmt.format(v) + (f"\n{extra[i, j]}" if extra is not None and extra[i, j] else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if v < vmin + 0.5 * (vmax - vmin) else "black")
    ax.set_title(title)
    return image


def waterfall(trial, path) -> None:
    """Best % change of the longest diameter per treated patient, sorted, coloured by best response."""
    treated = trial.patients[trial.patients.eligible].sort_values("best_pct_change", ascending=False)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.bar(range(len(treated)), treated.best_pct_change.clip(upper=100),
           color=[CALL_COLOURS[c] for c in treated.best_response], edgecolor="0.3", linewidth=0.3)
    _recist_lines(ax)
    ax.set_xticks([])
    ax.set_xlabel(f"treated patients (n = {len(treated)})")
    ax.set_ylabel("best % change from baseline")
    ax.legend(handles=[Patch(color=c, label=k) for k, c in CALL_COLOURS.items()], fontsize=8, loc="upper right")
    _trial_title(ax, trial, "waterfall")
    save(fig, path)


def spider(trial, path) -> None:
    """% change of the longest diameter at each scan, one line per treated patient."""
    fig, ax = plt.subplots(figsize=(8, 5))
    best = trial.patients.set_index("patient").best_response
    for patient, course in trial.courses.items():
        ax.plot(course.day, course.pct.clip(upper=150), color=CALL_COLOURS[best[patient]], alpha=0.7, lw=1)
    _recist_lines(ax)
    ax.set_xlabel("days after infusion")
    ax.set_ylabel("% change of longest diameter")
    _trial_title(ax, trial, "spider plot")
    save(fig, path)


def swimmer(trial, path) -> None:
    """One bar per treated patient over time, coloured by the RECIST call of each scan interval."""
    courses = sorted(trial.courses.items(), key=lambda kv: -_days_in_response(kv[1]))
    fig, ax = plt.subplots(figsize=(8, max(3, 0.18 * len(courses) + 1.2)))
    for row, (_, course) in enumerate(courses):
        for (_, start), (_, scan) in zip(course.iterrows(), list(course.iterrows())[1:]):
            ax.barh(row, scan.day - start.day, left=start.day, color=CALL_COLOURS[scan.call], height=0.8)
    ax.set_yticks([])
    ax.set_ylabel("treated patients")
    ax.set_xlabel("days after infusion (bar colour: call at the scan closing the interval)")
    ax.legend(handles=[Patch(color=c, label=k) for k, c in CALL_COLOURS.items()], fontsize=8, loc="lower right")
    _trial_title(ax, trial, "swimmer plot")
    save(fig, path)


def _recist_lines(ax) -> None:
    """Dashed lines at the RECIST PD (+20%) and PR (-30%) thresholds."""
    ax.axhline(20, color=CALL_COLOURS["PD"], ls="--", lw=1)
    ax.axhline(-30, color=CALL_COLOURS["CR"], ls="--", lw=1)


SAVE_DPI = 110
"""Resolution of every figure cartsim writes (dots per inch)."""


def save(fig, path, dpi: int = SAVE_DPI, layout: bool = True) -> None:
    """Lay out (``tight_layout``, unless ``layout=False`` for a figure with fixed margins, which
    saves a draw), write and close a figure (every figure cartsim writes goes through here, except
    the reusable :class:`TimecourseFigure`, which writes at the same ``SAVE_DPI`` and stays open)."""
    if layout:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def _pct(change: float | None) -> str:
    """A best % change as text ('no follow-up scan' when there is none)."""
    return "no follow-up scan" if change is None else f"{change:+.0f}%"


def _days_in_response(course) -> int:
    return int(course.call.isin(["CR", "PR"]).sum())


def _trial_title(ax, trial, kind: str) -> None:
    s = trial.summary
    low, high = s["orr_ci95"]
    ax.set_title(f"{s['target']} / {s['site']} / {s['route']}: {kind}; ORR {100 * s['orr']:.0f}% "
                 f"(95% CI {100 * low:.0f}-{100 * high:.0f}), n = {s['n_enrolled']}", fontsize=10)


ARM_COLOURS = {"experimental": "#1f78b4", "control": "#e31a1c"}


def km_curves(trial, path) -> None:
    """Kaplan-Meier progression-free survival (lifelines), one curve per arm, number at risk below."""
    from lifelines.plotting import add_at_risk_counts  # slow import (see sim.survival)

    from sim import survival

    arms = trial.arms or {"experimental": trial}
    fig, ax = plt.subplots(figsize=(8, 5.5))
    fitters, drawn = [], []
    for name, arm in arms.items():
        treated = arm.patients[arm.patients.eligible]
        if treated.empty:
            continue
        s = arm.summary
        label = (f"{name}: {s['route']}, dose {s['dose']:.2g}" if trial.arms else f"{s['route']}, dose {s['dose']:.2g}")
        km = survival.kaplan_meier(treated.pfs_days / survival.MONTH_DAYS, treated.progressed, label=label)
        drawn.append(name)
        km.plot_survival_function(ax=ax, ci_show=True, show_censors=True, color=ARM_COLOURS[name],
                                  censor_styles={"ms": 5, "marker": "|"})
        fitters.append(km)
    ax.axhline(0.5, color="0.7", lw=0.8, ls=":")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_xlabel("months after infusion")
    ax.set_ylabel("progression-free (share of treated)")
    if fitters:
        add_at_risk_counts(*fitters, ax=ax, rows_to_show=["At risk"], labels=drawn if trial.arms else ["treated"])
    else:
        ax.text(0.5, 0.5, "no treated patients", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(_km_title(trial), fontsize=10)
    save(fig, path)


def _km_title(trial) -> str:
    """Median PFS per arm (months) and, for two arms, the hazard ratio and log-rank p."""
    from sim import survival

    def median(s):
        m = s["pfs_median_days"]
        return "not reached" if m is None else f"{m / survival.MONTH_DAYS:.1f} mo"

    if not trial.arms:
        s = trial.summary
        return f"{s['target']} / {s['site']} / {s['route']}: median PFS {median(s)}, n = {s['n_enrolled']}"
    s = trial.summary
    parts = [f"{name} {median(arm.summary)}" for name, arm in trial.arms.items()]
    hr, (low, high) = s["hazard_ratio"], s["hazard_ratio_ci95"]
    contrast = "hazard ratio not estimable" if hr is None else \
        f"hazard ratio {hr:.2f} (95% CI {low:.2f}-{high:.2f}), log-rank p = {s['logrank_p']:.3g}"
    return f"{s['n_enrolled']} randomised {s['ratio']}; median PFS: {', '.join(parts)}\n{contrast}"


def calibration_history(study, path) -> None:
    """Loss of every finished candidate in order, and the best so far (log scale when losses span decades)."""
    from optuna.trial import TrialState

    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    numbers = [t.number for t in done]
    values = np.array([t.value for t in done], float)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(numbers, values, "o", color="#888888", ms=4, label="candidate")
    ax.step(numbers, np.minimum.accumulate(values), where="post", color="k", label="best so far")
    if len(values) and values.min() > 0 and values.max() / values.min() > 100:
        ax.set_yscale("log")
    ax.set_xlabel("trial")
    ax.set_ylabel("loss (sum of weight x z^2)")
    ax.set_title("optimisation history")
    ax.legend(fontsize=8)
    save(fig, path)


def calibration_importance(importances: dict[str, float], path) -> None:
    """Optuna's parameter importances as horizontal bars."""
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * max(len(importances), 1)))
    names = list(importances)[::-1]
    ax.barh(names, [importances[n] for n in names], color="#4a7ab5")
    ax.set_xlabel("importance for the loss (optuna.importance)")
    ax.set_title("parameter importances")
    save(fig, path)


def calibration_targets(table, path) -> None:
    """Each target measure's simulated value with its 95% CI against its reference range:
    best candidate and defaults, on the fit seeds and on the validation seeds."""
    from sim.calibration import PROPORTIONS

    keys = table[["target", "measure", "low", "high"]].drop_duplicates(["target", "measure"])
    styles = {("best", "fit"): ("o", "k", -0.27), ("best", "validation"): ("s", "#1b7837", -0.09),
              ("defaults", "fit"): ("o", "#b35806", 0.09), ("defaults", "validation"): ("s", "#e08214", 0.27)}
    fig, axes = plt.subplots(len(keys), 1, figsize=(7.5, 0.9 + 0.75 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys.itertuples()):
        rows = table[(table.target == key.target) & (table.measure == key.measure)]
        ax.axvspan(key.low, key.high, color="#c7e9c0")
        for (candidate, seeds), (marker, colour, dy) in styles.items():
            row = rows[(rows.candidate == candidate) & (rows.seeds == seeds)]
            if row.empty or row.value.isna().all():
                continue
            r = row.iloc[0]
            lo, hi = (r.value if v is None or np.isnan(v) else v for v in (r.ci_low, r.ci_high))
            ax.errorbar(r.value, dy, xerr=[[r.value - lo], [hi - r.value]], fmt=marker, color=colour, capsize=2,
                        ms=4, label=f"{candidate}, {seeds} seeds")
        ax.set_yticks([0], [f"{key.target}\n{key.measure}"], fontsize=8)
        ax.set_ylim(-0.5, 0.5)
        if key.measure in PROPORTIONS:
            ax.set_xlim(-0.02, 1.02)
    axes[0, 0].legend(fontsize=7, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    axes[-1, 0].set_xlabel("simulated value (95% CI) vs reference range (green)")
    save(fig, path)
