"""What the app draws: the lattice image and the time course (no browser)."""

import io

import numpy as np
from PIL import Image

from sim.plots import PHENOTYPE_COLOURS
from sim.viz.comparison import Comparison
from sim.viz.frames import PIXELS_PER_SITE, CoursePlot, lattice_png


def small(**choices):
    """A 60x50 run (small enough to be fast, large enough to be allowed)."""
    model = Comparison(preset="gastric-peritoneal-ip", compare="(none)", width="60", height="50", **choices)
    assert not model.error, model.error
    return model


def test_lattice_image_north_up_with_cart_cells_in_their_colour():
    model = small()
    arm = next(iter(model.arms.values()))
    day = 3
    while not len(arm.agents) and day < 14:  # the first CAR-T cells enter the lesion within days
        model.run_to_day(day)
        day += 1
    image = np.asarray(Image.open(io.BytesIO(lattice_png(arm))))
    assert image.shape == (50 * PIXELS_PER_SITE, 60 * PIXELS_PER_SITE, 3)
    agent = next(iter(arm.agents))
    x, y = agent.cell.coordinate
    row = (50 - 1 - y) * PIXELS_PER_SITE                       # row 0 of the image is the north edge
    colour = PHENOTYPE_COLOURS[agent.phenotype]
    assert tuple(image[row, x * PIXELS_PER_SITE]) == tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def test_field_contours_change_the_image_only_where_the_field_is():
    model = small()
    model.run_to_day(2)
    arm = next(iter(model.arms.values()))
    plain = np.asarray(Image.open(io.BytesIO(lattice_png(arm))))
    contoured = np.asarray(Image.open(io.BytesIO(lattice_png(arm, "chemokine"))))
    changed = np.any(plain != contoured, axis=2)
    assert 0 < changed.mean() < 0.5


def test_course_redrawn_only_on_a_new_record():
    model = small()
    plot = CoursePlot(model)
    first = plot.render()
    model.advance(6)                                        # no new daily record yet
    assert plot.render() is first
    model.advance(18)                                       # day 1: a new record
    assert plot.render() != first
