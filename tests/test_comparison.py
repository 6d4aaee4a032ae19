"""The app's model: two arms on the same seed start identical; bad choices fall back to the preset."""

import numpy as np

from sim.viz.comparison import FROM_PRESET, Comparison


def test_two_routes_start_identical_then_differ():
    model = Comparison(preset="gastric-peritoneal-iv", compare="route:intraperitoneal", hours_per_step=24,
                       width="60", height="60", dose=FROM_PRESET)
    iv, ip = model.arms.values()
    assert list(model.arms) == ["CLDN18.2 / peritoneum / intravenous", "CLDN18.2 / peritoneum / intraperitoneal"]
    assert np.array_equal(iv.tissue.tumor, ip.tissue.tumor) and np.array_equal(iv.tissue.antigen, ip.tissue.antigen)
    for _ in range(5):
        model.step()
    assert model.day == 5 and len(ip.agents) > len(iv.agents)


def test_bad_choice_is_reported_and_the_preset_shown():
    model = Comparison(preset="gastric-cldn18-iv", seed="abc", compare="(none)")
    assert "seed" in model.error and list(model.arms) == ["CLDN18.2 / stomach / intravenous"]


def test_comparing_with_the_presets_own_route_says_so():
    model = Comparison(preset="gastric-peritoneal-iv", compare="route:intravenous", width="40", height="40")
    assert len(model.arms) == 1 and "already uses route intravenous" in model.note


def test_run_to_day_and_next_scan():
    model = Comparison(preset="gastric-peritoneal-iv", compare="(none)", width="40", height="40",
                       first_scan_day="14", scan_interval_days="14")
    assert model.next_scan_day() == 14
    model.run_to_day(14)
    assert model.hours == 14 * 24 and model.next_scan_day() == 28
    assert [scan.day for scan in next(iter(model.arms.values())).scans] == [0, 14]
