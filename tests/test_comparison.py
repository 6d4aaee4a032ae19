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
