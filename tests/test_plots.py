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
