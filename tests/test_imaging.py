"""RECIST 1.1 / iRECIST rules on hand-made diameter series, and the diameter read-out."""

import numpy as np
import pytest

from sim.imaging import Scan, assess, lesion_diameter, longest_diameter, recist_call


def scans(apparent, viable=None, interval=28):
    viable = apparent if viable is None else viable
    return [Scan(i * interval, a, v, 0, 1.0, 0.0) for i, (a, v) in enumerate(zip(apparent, viable))]


@pytest.mark.parametrize("d, baseline, nadir, call", [
    (0.0, 30, 30, "CR"),
    (21.0, 30, 30, "PR"),       # exactly -30%
    (21.1, 30, 30, "SD"),
    (36.0, 30, 30, "PD"),       # +20% and +6 mm
    (35.9, 30, 30, "SD"),
    (12.0, 30, 10, "PR"),       # +20% from nadir but only +2 mm: not PD
    (15.0, 30, 10, "PD"),       # +50% and +5 mm from nadir, though below baseline
])
def test_recist_call(d, baseline, nadir, call):
    assert recist_call(d, baseline, nadir) == call


def test_growing_lesion_is_confirmed_progression():
    s = scans([30, 33, 37, 44])
    out = assess(s, sd_min_days=42)
    assert [x.call for x in s[1:]] == ["SD", "PD", "PD"]
    assert [x.irecist for x in s[1:]] == ["iSD", "iUPD", "iCPD"]
    assert out["best_response"] == "PD"          # SD at day 28 is before the 42-day minimum
    assert out["best_pct_change"] == pytest.approx(10.0)


def test_stable_disease_counts_after_minimum_duration():
    assert assess(scans([30, 31, 32, 40]), sd_min_days=42)["best_response"] == "SD"


def test_best_response_stops_at_confirmed_progression():
    out = assess(scans([30, 40, 50, 10]), sd_min_days=42)
    assert out["best_response"] == "PD"


def test_pseudo_progression_unconfirmed_then_response():
    s = scans(apparent=[30, 38, 20, 12], viable=[30, 22, 15, 10])
    out = assess(s, sd_min_days=42)
    assert s[1].irecist == "iUPD" and s[2].irecist == "iPR"
    assert out["pseudo_progression"] and out["best_response"] == "PR"


def test_true_progression_is_not_pseudo():
    out = assess(scans(apparent=[30, 38, 20, 12], viable=[30, 38, 20, 12]), sd_min_days=42)
    assert not out["pseudo_progression"]


def test_pseudo_label_only_where_apparent_grows_and_viable_does_not():
    """Lesson 4's course with an early scan: swelling on day 14, response, true regrowth on day 84."""
    from sim.viz.frames import scan_label

    days = [0, 14, 28, 56, 84]
    apparent, viable = [30, 41, 25, 12, 20], [30, 25, 18, 10, 20]
    course = [Scan(d, a, v, 0, v / a, 0.0) for d, a, v in zip(days, apparent, viable)]
    out = assess(course, sd_min_days=42)
    assert [s.irecist for s in course[1:]] == ["iUPD", "iSD", "iPR", "iUPD"]
    assert [s.swelling for s in course[1:]] == [True, False, False, False]      # day 84 regrows: not pseudo
    assert [scan_label(s) for s in course[1:]] == ["iUPD pseudo?", "iSD", "iPR", "iUPD"]
    assert out["pseudo_progression"] and out["best_response"] == "PR"


def test_regrowth_below_baseline_is_not_pseudo():
    """The old rule (viable below baseline) called regrowth from a deep nadir pseudo-progression."""
    course = scans(apparent=[30, 10, 20, 8], viable=[30, 10, 20, 8])
    out = assess(course, sd_min_days=42)
    assert course[2].irecist == "iUPD" and not course[2].swelling and not out["pseudo_progression"]


def test_relapse_after_response():
    out = assess(scans(apparent=[30, 10, 5, 12], viable=[30, 10, 5, 12]), sd_min_days=42)
    assert out["best_response"] == "PR" and out["relapse"]
    assert not assess(scans([30, 10, 8, 7]), sd_min_days=42)["relapse"]


def test_complete_response():
    out = assess(scans([30, 0, 0, 0]), sd_min_days=42)
    assert out["best_response"] == "CR" and out["best_pct_change"] == -100


def test_longest_diameter_of_shapes():
    disk = np.hypot(*np.indices((81, 81)) - 40) <= 20
    assert longest_diameter(disk) == pytest.approx(41, abs=1)
    bar = np.zeros((50, 50), bool)
    bar[10, 5:35] = True
    assert longest_diameter(bar) == pytest.approx(30)
    assert longest_diameter(np.zeros((5, 5), bool)) == 0


def test_solid_lesion_reads_its_longest_diameter():
    disk = np.hypot(*np.indices((81, 81)) - 40) <= 20
    assert lesion_diameter(disk) == pytest.approx(longest_diameter(disk), rel=0.03)
    assert lesion_diameter(np.zeros((5, 5), bool)) == 0


def test_scattered_survivors_read_as_a_contracted_lesion():
    """Killing two thirds of a lesion's cells in scattered spots shrinks it by about 30% (RECIST PR)."""
    disk = np.hypot(*np.indices((121, 121)) - 60) <= 50
    spots = disk & (np.random.default_rng(1).random(disk.shape) < 0.34)
    spots[10, 60] = spots[110, 60] = True      # survivors still span the old extent
    assert longest_diameter(spots) == pytest.approx(longest_diameter(disk), abs=1)
    shrink = lesion_diameter(spots) / lesion_diameter(disk)
    assert shrink == pytest.approx(0.34 ** (1 / 3), abs=0.03)
    assert recist_call(30 * shrink, 30, 30) == "PR"


def test_no_follow_up_scan_is_not_evaluable():
    out = assess(scans([30]), sd_min_days=42)
    assert out["best_response"] == "NE" and out["best_pct_change"] is None


def test_early_stable_disease_alone_is_not_evaluable_but_later_progression_is_pd():
    assert assess(scans([30, 29]), sd_min_days=42)["best_response"] == "NE"
    assert assess(scans([30, 29, 40]), sd_min_days=42)["best_response"] == "PD"


def test_marrow_assessment_without_follow_up_is_not_evaluable():
    from sim.imaging import assess_marrow

    out = assess_marrow(scans([30]), "blasts")
    assert out["best_response"] == "NE" and out["best_pct_change"] is None
