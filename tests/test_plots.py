"""Figures that experiments draw from tables."""

import matplotlib.pyplot as plt
import pandas as pd

from sim.plots import heatmap


def test_heatmap_prints_each_value_with_its_note_and_leaves_missing_cells_blank():
    rates = pd.DataFrame({"intravenous": [0.5, 1.0], "intraperitoneal": [0.0, float("nan")]}, index=["a", "b"])
    notes = pd.DataFrame({"intravenous": ["", "3 toxic"], "intraperitoneal": ["", "ignored"]}, index=["a", "b"])
    fig, ax = plt.subplots()
    heatmap(ax, rates, "response rate", notes=notes)
    assert sorted(t.get_text() for t in ax.texts) == ["0%", "100%\n3 toxic", "50%"]
    plt.close(fig)


def test_every_colour_the_lattice_paints_is_in_its_key():
    """A new tissue colour without a key entry would leave the legend and the app's caption silent about it."""
    import numpy as np
    from matplotlib.colors import to_rgb

    from sim import load_scenario
    from sim.model import CARTModel
    from sim.plots import ANTIGEN_CMAP, LATTICE_KEY, STROMA_COLOUR, lattice_rgb

    model = CARTModel(load_scenario("gastric-cldn18-iv", {"width": 60, "height": 60, "days": 21,
                                                          "route": "intratumoral", "dose": 1e9, "seed": 3}))
    for _ in range(21 * 24):
        model.step()
    rgb = lattice_rgb(model).reshape(-1, 3)
    key = np.array([to_rgb(colour) for colour, _, _ in LATTICE_KEY])
    antigen_scale = ANTIGEN_CMAP(np.linspace(0, 1, 256))[:, :3]
    share = (1 - rgb) / (1 - STROMA_COLOUR)   # stroma is drawn as white blended towards tan: every shade is tan
    stroma_blend = (np.ptp(share, axis=1) < 1e-6) & (share[:, 0] > 0)
    in_key = (np.abs(rgb[:, None] - key).max(axis=2) < 1e-6).any(axis=1)
    on_scale = (np.abs(rgb[:, None] - antigen_scale).max(axis=2) < 0.02).any(axis=1)
    painted = ~in_key & ~on_scale & ~stroma_blend
    assert not painted.any(), np.unique(rgb[painted], axis=0)
