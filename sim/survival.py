"""Time to event: progression-free survival, duration of response, time to response.

Per patient, from the assessed scans (:func:`time_to_event`; days after the
first infusion):

* progression is iRECIST-confirmed progression (iCPD; Seymour et al., Lancet
  Oncol 2017). Its event day is the scan day of the first unconfirmed PD (iUPD)
  of the run that the next scan confirmed, as iRECIST dates confirmed
  progression back to the iUPD. Dispersed marrow disease is read by its own
  criteria (:func:`sim.imaging.assess_marrow`), where a PD needs no
  confirmation: the event is that assessment's day. Death is not modelled:
  every PFS event is a progression.
* ``pfs_days``: the event day if ``progressed``; otherwise censored at the
  last scan (the last assessment; nothing is known after it), except when the
  series ends in an unconfirmed PD that the horizon left unconfirmed: then it
  is censored on the day of that run's first iUPD, because PFS is at least that
  long whether the PD would be confirmed (event that day) or reset (later).
* ``response_day`` (time to response): the first scan with PR or CR before
  confirmed progression; None for non-responders.
* ``dor_days`` (duration of response): for responders, from ``response_day``
  to the progression event (an event if ``progressed``) or to the PFS
  censoring day; None for non-responders.

Across patients: Kaplan-Meier estimates (lifelines ``KaplanMeierFitter``):
medians with their 95% CIs (None where the curve does not reach 0.5: "not
reached") and the share progression-free at landmark days; for two arms the
Cox proportional-hazards ratio with its 95% CI (``CoxPHFitter``) and the
log-rank p (``logrank_test``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from sim.imaging import CR, PR

# lifelines is imported inside the functions that use it: it takes about 0.4 s to import,
# and every `cartsim run` imports this module for the per-patient outcomes.

CONFIRMED = ("iCPD", "PD")
"""Calls of confirmed progression: iRECIST's iCPD, or PD under criteria without confirmation (marrow)."""
UNCONFIRMED = "iUPD"
"""iRECIST's unconfirmed progression: the next scan confirms or resets it."""
MONTH_DAYS = 365.25 / 12
"""Days per month (months are calendar averages, as trials report PFS)."""
LANDMARKS = {"pfs_rate_6m": round(6 * MONTH_DAYS), "pfs_rate_12m": round(12 * MONTH_DAYS)}
"""Summary key -> landmark day (183, 365) at which the progression-free share is read."""
MAX_HAZARD_RATIO = 1e3
"""A Cox 95% interval reaching beyond 1/1000..1000 marks a fit without information (separation)."""


def time_to_event(scans) -> dict:
    """``pfs_days`` (int), ``progressed``, ``response_day`` and ``dor_days`` (float days, None
    without a response: floats, so tables of many runs keep one column type) of one patient.

    ``scans``: :class:`sim.imaging.Scan` list, baseline first, with the iRECIST
    calls filled by :func:`sim.imaging.assess`. See the module docstring.
    """
    follow = scans[1:]
    progressed = False
    run_start = None   # day of the first iUPD of the current unconfirmed run
    response_day = None
    for scan in follow:
        if scan.irecist in CONFIRMED:
            progressed = True
            run_start = scan.day if run_start is None else run_start
            break
        if scan.irecist == UNCONFIRMED:
            run_start = scan.day if run_start is None else run_start
        else:
            run_start = None
            if response_day is None and scan.call in (CR, PR):
                response_day = scan.day
    if progressed or run_start is not None:
        pfs = run_start
    else:
        pfs = scans[-1].day
    if response_day is None:
        return {"pfs_days": int(pfs), "progressed": progressed, "response_day": None, "dor_days": None}
    return {"pfs_days": int(pfs), "progressed": progressed, "response_day": float(response_day),
            "dor_days": float(pfs - response_day)}


def _finite(value: float, digits: int = 1) -> float | None:
    """A rounded float for JSON: None for infinite or NaN (e.g. a median not reached)."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def kaplan_meier(durations, events, label: str = ""):
    """A fitted lifelines ``KaplanMeierFitter`` (durations in days, events True/1 where observed)."""
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter(label=label).fit(np.asarray(durations, float), np.asarray(events, bool))


def median_with_ci(durations, events) -> tuple[float | None, list[float | None]]:
    """Kaplan-Meier median (days) and its 95% CI; None where not reached or no patients."""
    from lifelines.utils import median_survival_times

    if len(durations) == 0:
        return None, [None, None]
    km = kaplan_meier(durations, events)
    ci = median_survival_times(km.confidence_interval_)
    return _finite(km.median_survival_time_), [_finite(ci.iloc[0, 0]), _finite(ci.iloc[0, 1])]


def pfs_summary(treated: pd.DataFrame, horizon_days: int) -> dict:
    """Trial summary keys of time to event for the treated patients of one arm.

    ``pfs_median_days``, ``pfs_median_ci95``, ``pfs_rate_6m``, ``pfs_rate_12m``
    (Kaplan-Meier share progression-free at the landmark; None when the horizon
    ``horizon_days`` ends before it), ``dor_median_days``, ``dor_median_ci95``
    (responders), ``response_day_median`` (median time to response of the
    responders, days), ``n_progressed``.
    """
    out: dict = {}
    out["pfs_median_days"], out["pfs_median_ci95"] = median_with_ci(treated.pfs_days, treated.progressed)
    km = kaplan_meier(treated.pfs_days, treated.progressed) if len(treated) else None
    for key, day in LANDMARKS.items():
        ok = km is not None and horizon_days >= day
        out[key] = round(float(km.survival_function_at_times(day).iloc[0]), 4) if ok else None
    responders = treated[treated.response_day.notna()]
    out["dor_median_days"], out["dor_median_ci95"] = median_with_ci(responders.dor_days, responders.progressed)
    out["response_day_median"] = _finite(responders.response_day.median()) if len(responders) else None
    out["n_progressed"] = int(treated.progressed.sum())
    return out


def compare_arms(experimental: pd.DataFrame, control: pd.DataFrame) -> dict:
    """PFS of two arms: Cox hazard ratio (experimental vs control) with 95% CI and log-rank p.

    A hazard ratio below 1 means the experimental arm progresses more slowly.
    All three are None when there is no progression in either arm or the Cox
    fit does not give a usable interval (no convergence, or an interval beyond
    ``MAX_HAZARD_RATIO`` either way: complete separation, e.g. every event in
    one arm, where the ratio runs off to 0 or infinity).
    """
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning
    from lifelines.statistics import logrank_test

    none = {"hazard_ratio": None, "hazard_ratio_ci95": [None, None], "logrank_p": None}
    if len(experimental) == 0 or len(control) == 0 or not (experimental.progressed.any() or control.progressed.any()):
        return none
    data = pd.DataFrame({
        "pfs_days": np.r_[experimental.pfs_days, control.pfs_days].astype(float),
        "progressed": np.r_[experimental.progressed, control.progressed].astype(bool),
        "experimental": np.r_[np.ones(len(experimental)), np.zeros(len(control))],
    })
    with warnings.catch_warnings():   # separation warnings: the non-finite interval below says it
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            cox = CoxPHFitter().fit(data, duration_col="pfs_days", event_col="progressed")
        except ConvergenceError:
            return none
    row = cox.summary.loc["experimental"]
    hr = [_finite(row[k], 4) for k in ("exp(coef)", "exp(coef) lower 95%", "exp(coef) upper 95%")]
    if None in hr or hr[2] > MAX_HAZARD_RATIO or hr[1] < 1 / MAX_HAZARD_RATIO:
        return none
    test = logrank_test(experimental.pfs_days, control.pfs_days, experimental.progressed, control.progressed)
    return {"hazard_ratio": hr[0], "hazard_ratio_ci95": hr[1:], "logrank_p": _finite(test.p_value, 4)}

