"""Time to event: PFS/DoR from scan series, Kaplan-Meier and Cox from lifelines on constructed
tables with known answers, scan and infusion schedules, and stopping at confirmed progression."""

import numpy as np
import pandas as pd
import pytest

from sim import run
from sim.imaging import Scan, assess
from sim.model import CARTModel, complete
from sim.schedule import is_scan_day, reinfusion_days, scan_days
from sim.scenario import CARTScenario
from sim.survival import compare_arms, median_with_ci, pfs_summary, time_to_event

SMALL = {"width": 60, "height": 60}


def outcome(apparent, interval=28):
    scans = [Scan(i * interval, a, a, 0, 1.0, 0.0) for i, a in enumerate(apparent)]
    assess(scans, sd_min_days=42)
    return time_to_event(scans)


@pytest.mark.parametrize("apparent, expected", [
    # growth: iSD, iUPD on day 56, confirmed on day 84: the event is dated at the iUPD
    ([30, 33, 37, 44], dict(pfs_days=56, progressed=True, response_day=None, dor_days=None)),
    # PR on day 28, iUPD on 84 (+39% from the nadir 18), confirmed on 112: DoR 84 - 28
    ([30, 20, 18, 25, 32], dict(pfs_days=84, progressed=True, response_day=28, dor_days=56)),
    # pseudo-progression: iUPD on 28 resets to PR on 56: censored at the last scan (84)
    ([30, 38, 20, 12], dict(pfs_days=84, progressed=False, response_day=56, dor_days=28)),
    # iUPD at the last scan, unconfirmed: censored on its day (PFS is at least that long)
    ([30, 20, 30], dict(pfs_days=56, progressed=False, response_day=28, dor_days=28)),
    # two unconfirmed iUPD (growth < 5 mm between them) at the end: censored at the first
    ([30, 31, 37, 39], dict(pfs_days=56, progressed=False, response_day=None, dor_days=None)),
    # no follow-up scan: censored at baseline
    ([30], dict(pfs_days=0, progressed=False, response_day=None, dor_days=None)),
    # complete response kept to the horizon
    ([30, 10, 0, 0], dict(pfs_days=84, progressed=False, response_day=28, dor_days=56)),
])
def test_pfs_and_dor_from_scan_series(apparent, expected):
    assert outcome(apparent) == expected


def test_marrow_progression_needs_no_confirmation():
    calls = ["", "CR", "CR", "PD", "PD"]     # marrow criteria: call and irecist are the same, no iUPD
    scans = [Scan(28 * i, 0.0, 0.0, 0, 1.0, 0.0, call=c, irecist=c) for i, c in enumerate(calls)]
    assert time_to_event(scans) == dict(pfs_days=84, progressed=True, response_day=28, dor_days=56)


def table(durations, events, responders=None):
    return pd.DataFrame({"pfs_days": durations, "progressed": events,
                         "response_day": responders if responders is not None else [np.nan] * len(durations),
                         "dor_days": [d - r if r == r else np.nan for d, r in
                                      zip(durations, responders if responders is not None else [np.nan] * len(durations))]})


def test_kaplan_meier_median_known_answer():
    # by hand: S(1)=5/6, S(2)=4/6, censored at 3, S(4)=4/6 x 2/3 = 0.444 -> median 4
    median, ci = median_with_ci([1, 2, 3, 4, 5, 6], [1, 1, 0, 1, 1, 1])
    assert median == 4.0
    assert ci[0] is not None and ci[0] <= 4.0
    assert median_with_ci([10, 20, 30, 40, 50], [1] * 5)[0] == 30.0
    assert median_with_ci([10, 20, 30], [0, 0, 0]) == (None, [None, None])    # not reached


def test_landmark_rates_known_answer_and_none_beyond_horizon():
    t = table([100, 200, 300, 400], [True] * 4)
    out = pfs_summary(t, horizon_days=400)
    assert out["pfs_rate_6m"] == 0.75 and out["pfs_rate_12m"] == 0.25     # S(183), S(365)
    assert out["pfs_median_days"] == 200.0 and out["n_progressed"] == 4
    assert pfs_summary(t, horizon_days=84)["pfs_rate_6m"] is None


def test_dor_median_over_responders_only():
    t = table([100, 200, 300, 400], [True] * 4, responders=[np.nan, 28, 28, 28])
    out = pfs_summary(t, horizon_days=400)
    assert out["dor_median_days"] == 272.0 and out["response_day_median"] == 28.0   # DoR 172, 272, 372


def exponential(n, median):
    """Deterministic exponential sample: the (i + 0.5)/n quantiles."""
    return -np.log(1 - (np.arange(n) + 0.5) / n) * median / np.log(2)


def test_hazard_ratio_and_logrank_known_answer():
    control = table(exponential(200, 60), [True] * 200)
    experimental = table(exponential(200, 120), [True] * 200)    # half the hazard
    out = compare_arms(experimental, control)
    assert out["hazard_ratio"] == pytest.approx(0.5, abs=0.05)
    low, high = out["hazard_ratio_ci95"]
    assert low < out["hazard_ratio"] < high < 1 and out["logrank_p"] < 1e-4
    same = compare_arms(control, control.copy())
    assert same["hazard_ratio"] == pytest.approx(1.0, abs=1e-3) and same["logrank_p"] > 0.99


def test_no_progression_means_no_hazard_ratio():
    t = table([84, 84], [False, False])
    assert compare_arms(t, t.copy())["hazard_ratio"] is None


def test_scan_schedule():
    default = CARTScenario(days=84)
    assert scan_days(default) == [0, 28, 56, 84]
    clinical = CARTScenario(days=200, first_scan_day=28, scan_interval_days=56)
    assert scan_days(clinical) == [0, 28, 84, 140, 196]
    assert not is_scan_day(56, clinical)
    model = CARTModel(**SMALL, dose=0.0, days=60, first_scan_day=14, scan_interval_days=21, seed=1)
    scans = complete(model).scans
    assert scans.day.tolist() == [0, 14, 35, 56]


def test_reinfusion_days():
    assert reinfusion_days(CARTScenario()) == []
    assert reinfusion_days(CARTScenario(infusions=3, reinfusion_interval_days=21)) == [21, 42]


def test_reinfusion_given_when_not_progressed_with_its_own_expansion():
    one = run(**SMALL, days=40, seed=0)
    two = run(**SMALL, days=40, seed=0, infusions=2, reinfusion_interval_days=28)
    assert one.scans.irecist.iloc[1] in ("iCR", "iPR", "iSD")          # not progressed at day 28
    assert one.summary["infusions_given"] == 1 and two.summary["infusions_given"] == 2
    before = two.timeseries.day <= 28
    pd.testing.assert_frame_equal(one.timeseries[before], two.timeseries[before])   # same course up to day 28
    first, second = two.model.courses[0][1], two.model.courses[1][1]
    assert second.infused == pytest.approx(two.model.delivery.systemic_cells)
    assert second.expanded > 0.1 * second.infused                      # the new cells expand in their own pool
    # ... but less per cell than the first infusion: expansion follows antigen, and a responding
    # lesion (iPR at day 28) leaves less of it, shared with the first pool's effectors
    assert second.expanded / second.infused < first.expanded / first.infused
    assert two.timeseries.cart_blood.iloc[-1] > one.timeseries.cart_blood.iloc[-1]


def test_no_reinfusion_after_progression_and_then_identical_to_one_infusion():
    fast = {"dose": 1e6, "tumor_growth_rate": 0.2}                     # progresses by day 28
    one = run(**SMALL, days=60, seed=1, **fast)
    three = run(**SMALL, days=60, seed=1, infusions=3, reinfusion_interval_days=28, **fast)
    assert one.scans.irecist.tolist()[1:] == ["iUPD", "iCPD"]
    assert three.summary["infusions_given"] == 1
    pd.testing.assert_frame_equal(one.timeseries, three.timeseries)


@pytest.mark.parametrize("params", [dict(seed=0), dict(seed=1, dose=0.0), dict(seed=2, route="intratumoral")],
                         ids=["response-then-progression", "untreated", "intratumoral"])
def test_stopping_at_confirmed_progression_keeps_the_outcomes(params):
    keys = ["pfs_days", "progressed", "response_day", "dor_days", "best_response", "best_pct_change",
            "pseudo_progression"]
    full = run(**SMALL, days=140, **params).summary
    stopped = run(**SMALL, days=140, stop_at_progression=True, **params).summary
    assert full["progressed"] and stopped["days_followed"] < full["days_followed"] == 140
    assert {k: stopped[k] for k in keys} == {k: full[k] for k in keys}


def test_km_figure_of_two_arms_one_of_them_empty(tmp_path):
    from sim.plots import km_curves
    from sim.trial import TrialResult

    def arm(durations, events):
        patients = table(durations, events).assign(eligible=True)
        summary = {"route": "intravenous", "dose": 2.5e8, **pfs_summary(patients, 365)}
        return TrialResult(patients, summary, {})

    arms = {"experimental": arm([28, 56, 84, 365], [True, True, True, False]), "control": arm([], [])}
    summary = {"n_enrolled": 4, "ratio": "1:1", **compare_arms(arms["experimental"].patients, arms["control"].patients)}
    trial = TrialResult(pd.concat([a.patients for a in arms.values()]), summary, {}, arms)
    km_curves(trial, tmp_path / "km.png")
    assert (tmp_path / "km.png").stat().st_size > 10_000 and summary["hazard_ratio"] is None
