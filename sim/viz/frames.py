"""What the browser app draws, made cheap enough to draw every frame.

* :func:`lattice_png`: one arm's lattice as a PNG built straight from an RGB array
  (tissue colours from :func:`sim.plots.lattice_rgb`, CAR-T cells painted as blocks
  by phenotype, a field as contour lines at fixed levels); a few milliseconds, where
  a matplotlib figure per frame took hundreds.
* :class:`CoursePlot`: the time course as one matplotlib figure kept for the whole
  run. Axes, titles and legends are drawn once and kept as a background, the scan
  labels on a second one; a new daily record redraws only the lines over it
  (blitting), a new scan the labels, and the whole figure only when a curve outgrows
  its axis. Frames without a new record reuse the last PNG.

Sizes are chosen for a projector: text at least 12 px at the image's own size
(the page shows images at their natural width), legends outside the data.
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from sim.plots import CALL_COLOURS, NEGATIVE_COLOUR, PHENOTYPE_COLOURS, lattice_rgb

PIXELS_PER_SITE = 2
"""Pixels per lattice site in the lattice PNG (a contour line is one pixel wide)."""
SHOWN_PIXELS_PER_SITE = 4
"""Screen pixels per lattice site on the page."""
FIELD_SCALES = {"suppression": 1.0, "chemokine": 1.0, "inflammation": 0.1, "myeloid": 1.0, "edema": 1.0}
"""Fixed full scale of each field overlay (field units); contours at a quarter, half and three quarters."""
CONTOUR_SHARES = (0.25, 0.5, 0.75)
CONTOUR_CMAP = colormaps["cool"]
FONT_PT = 10
"""Figure text size in points: 10 pt at 100 dpi is 14 px."""
DPI = 100


def _contour_colours() -> list[np.ndarray]:
    return [(255 * np.array(CONTOUR_CMAP(share)[:3])).astype(np.uint8) for share in CONTOUR_SHARES]


def lattice_png(arm, field: str = "none", scale: int = PIXELS_PER_SITE) -> bytes:
    """PNG of one arm's lattice, ``scale`` pixels per site, north up; ``field`` as contours or "none".

    The page shows it at :data:`SHOWN_PIXELS_PER_SITE` per site with the browser's
    nearest-neighbour scaling (CSS ``image-rendering: pixelated``), so the PNG stays small.
    """
    rgb = (lattice_rgb(arm) * 255).astype(np.uint8)          # (height, width, 3), row 0 = south
    cells = np.array([(*a.cell.coordinate, int(a.phenotype)) for a in arm.agents], dtype=int).reshape(-1, 3)
    for phen, colour in PHENOTYPE_COLOURS.items():
        pts = cells[cells[:, 2] == int(phen)]
        rgb[pts[:, 1], pts[:, 0]] = _hex_rgb(colour)
    big = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    if field != "none":
        values = getattr(arm.fields, field).T
        for share, colour in zip(CONTOUR_SHARES, _contour_colours()):
            inside = values >= share * FIELD_SCALES[field]
            big[_edge(np.repeat(np.repeat(inside, scale, axis=0), scale, axis=1))] = colour
    return _encode(big[::-1])


@lru_cache(maxsize=8)
def field_key_png(field: str) -> bytes:
    """A colour key for the contours of ``field``: its fixed scale with the contour levels marked."""
    fig = Figure(figsize=(5.0, 0.95), dpi=DPI)
    ax = fig.add_axes((0.04, 0.5, 0.92, 0.25))
    full = FIELD_SCALES[field]
    ax.imshow(np.linspace(0, 1, 256)[None, :], aspect="auto", cmap="Greys", extent=(0, full, 0, 1), alpha=0.25)
    for share in CONTOUR_SHARES:
        ax.axvline(share * full, color=CONTOUR_CMAP(share), lw=4)
    ax.set_yticks([])
    ax.set_xticks([share * full for share in (0, *CONTOUR_SHARES, 1)])
    ax.tick_params(labelsize=FONT_PT)
    ax.set_title(f"{field} (fixed scale 0-{full:g}): contour lines at these levels", fontsize=FONT_PT, loc="left")
    return _png(fig)


def _edge(inside: np.ndarray) -> np.ndarray:
    """The pixels of ``inside`` next to a pixel outside it (a contour line one pixel wide)."""
    core = inside.copy()
    core[1:, :] &= inside[:-1, :]
    core[:-1, :] &= inside[1:, :]
    core[:, 1:] &= inside[:, :-1]
    core[:, :-1] &= inside[:, 1:]
    return inside & ~core


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _encode(rgba: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgba[..., :3]).save(out, format="png", compress_level=1)
    return out.getvalue()


def scan_label(scan) -> str:
    """A scan's label in the app: its iRECIST call as :func:`sim.imaging.assess` made it, with
    "pseudo?" where imaging saw the sign of pseudo-progression (``Scan.swelling``)."""
    return f"{scan.irecist} pseudo?" if scan.swelling else scan.irecist


def scan_table_html(model) -> str:
    """The scans of each arm as an HTML table: diameters, calls, density proxy and symptom proxy."""
    rows = []
    for label, arm in model.arms.items():
        for scan in arm.scans:
            colour = CALL_COLOURS.get(scan.call, "#ffffff")
            size = (f"<td colspan=2>blasts {100 * scan.blasts:.1f}%</td>" if arm.response_criteria != "recist"
                    else f"<td>{scan.apparent_mm:.0f}</td><td>{scan.viable_mm:.0f}</td>")
            rows.append(f"<tr><td>{label}</td><td>{scan.day}</td>{size}"
                        f"<td style='background:{colour}'>{scan.call or 'baseline'}</td><td>{scan_label(scan)}</td>"
                        f"<td>{100 * scan.density:.0f}%</td>"
                        f"<td>{scan.cytokine:.2f}</td></tr>")
    head = ("<tr><th>arm</th><th>day</th><th>apparent mm</th><th>viable mm</th><th>RECIST 1.1 (marrow: its criteria)</th>"
            "<th>iRECIST</th><th>density: viable share of the apparent lesion</th>"
            "<th>symptom proxy: systemic cytokine</th></tr>")
    return (f"<table class='scans' style='font-size: 15px; border-collapse: collapse'>{head}{''.join(rows)}</table>"
            "<p style='font-size: 15px'>\"pseudo?\": the scan reads progression (PD) while the viable tumour "
            "has not grown since the smallest scan: swelling from infiltrate, edema and debris. iRECIST waits "
            "for the next scan: iCPD confirms progression, a smaller lesion resets the call.</p>")


ARM_STYLES = ["-", "--"]
MIN_CELLS_FOR_SHARE = 20
"""Below this many tumour cells the antigen-negative share is not drawn (one cell left would read 0 or 100%)."""
APPARENT, VIABLE, CART, BLOOD = "#6a3d9a", "#e6550d", "#00a040", "#b2182b"


def short_labels(labels: list[str]) -> list[str]:
    """Arm labels reduced to the parts in which the arms differ ("intravenous", "intraperitoneal")."""
    parts = [label.split(" / ") for label in labels]
    differ = [i for i in range(len(parts[0])) if len({p[i] for p in parts}) > 1]
    return [" / ".join(p[i] for i in differ) or labels[0] for p in parts]


class CoursePlot:
    """The time course of a comparison, one figure for the whole run, redrawn only when its data change.

    Panels (shared day axis): the scan calls of each arm on a row of its own; apparent and
    viable lesion diameter (mm); CAR-T cells in the lesion (lattice agents); CAR-T cells in
    the patient's blood (log); antigen-negative tumour cells (%). Solid lines: arm A,
    dashed: arm B. Legends sit right of the panels.
    """

    def __init__(self, model):
        self.model = model
        self.arms = list(model.arms.values())
        self.names = short_labels(list(model.arms)) if len(self.arms) > 1 else [""]
        self.marrow = self.arms[0].response_criteria != "recist"
        """Dispersed marrow disease: the first panel shows marrow blasts, not lesion diameters."""
        self.fig = Figure(figsize=(10.5, 8.2), dpi=DPI)
        self.canvas = FigureCanvasAgg(self.fig)
        grid = self.fig.add_gridspec(5, 1, height_ratios=[0.22 + 0.22 * len(self.arms), 1.3, 1, 1, 0.9],
                                     left=0.08, right=0.72, top=0.97, bottom=0.07, hspace=0.45)
        self.strip = self.fig.add_subplot(grid[0])
        self.size, self.cart, self.blood, self.escape = (self.fig.add_subplot(grid[i], sharex=self.strip)
                                                         for i in range(1, 5))
        self.lines = []
        for style, name in zip(ARM_STYLES, self.names):
            sizes = ({"blasts": self.size.plot([], [], style, color=VIABLE, lw=2, label=f"blasts {name}",
                                               animated=True)[0]} if self.marrow else
                     {"apparent_mm": self.size.plot([], [], style, color=APPARENT, lw=2, label=f"apparent {name}",
                                                    animated=True)[0],
                      "viable_mm": self.size.plot([], [], style, color=VIABLE, lw=2, label=f"viable {name}",
                                                  animated=True)[0]})
            self.lines.append({
                **sizes,
                "cart_lesion": self.cart.plot([], [], style, color=CART, lw=2, label=name, animated=True)[0],
                "cart_blood": self.blood.plot([], [], style, color=BLOOD, lw=2, label=name, animated=True)[0],
                "antigen_negative_fraction": self.escape.plot([], [], style, color=NEGATIVE_COLOUR, lw=2,
                                                              label=name, animated=True)[0],
            })
        self.blood.set_yscale("log")
        # fixed scales (no rescaling per frame), wide enough for a thousand-fold blood expansion of the
        # largest dose and for a lesion infiltrate of 3% of the lattice's sites
        self.blood.set_ylim(1, max(1e11, 1e4 * max(arm.scenario.dose for arm in self.arms)))
        self.size.set_ylim(0, 100 if self.marrow else 2.2 * max(arm.scenario.lesion_diameter_mm for arm in self.arms))
        self.cart.set_ylim(0, max(100, 0.03 * max(arm.scenario.width * arm.scenario.height for arm in self.arms)))
        horizon = model.horizon
        self.strip.set_xlim(-1, horizon + 6)                # room for the last scan's label
        self.strip.set_ylim(-0.5, len(self.arms) - 0.5)
        self.strip.set_yticks(range(len(self.arms)), self.names[::-1] if len(self.arms) > 1 else ["scans"])
        self.strip.tick_params(bottom=False, labelbottom=False, left=False, labelleft=False, right=True,
                               labelright=True)
        self.strip.set_title("scan calls (iRECIST)", fontsize=FONT_PT, loc="left")
        for ax, title in ((self.size, "marrow blasts (% of marrow sites; remission below 5%)" if self.marrow
                           else "lesion: longest diameter (mm)"),
                          (self.cart, "CAR-T cells in the lesion (lattice)"),
                          (self.blood, "CAR-T cells in the blood (patient, log)"),
                          (self.escape, f"antigen-negative tumour cells (%; not shown below {MIN_CELLS_FOR_SHARE} "
                                        "tumour cells)")):
            ax.set_title(title, fontsize=FONT_PT, loc="left")
            if ax is not self.escape:
                ax.tick_params(labelbottom=False)
        self.escape.set_ylim(0, 100)
        self.escape.set_xlabel("days after infusion", fontsize=FONT_PT)
        for ax in (self.strip, self.size, self.cart, self.blood, self.escape):
            ax.tick_params(labelsize=FONT_PT)
        self.size.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=FONT_PT, frameon=False)
        if len(self.arms) > 1:
            self.cart.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=FONT_PT, frameon=False,
                             title="solid / dashed", title_fontsize=FONT_PT)
        self.scan_marks = []
        self.drawn = None
        self.png = b""
        self.background = None
        """The figure without lines and scan labels (redrawn only when an axis grows)."""
        self.with_scans = self.scanned = None
        """The background with the scan labels, and the scan counts it shows."""

    def render(self) -> bytes:
        """PNG of the course so far (the cached one if no record or scan was added since)."""
        state = tuple((len(arm.datacollector.model_vars["day"]), len(arm.scans)) for arm in self.arms)
        if state == self.drawn:
            return self.png
        for arm, lines in zip(self.arms, self.lines):
            data = arm.datacollector.model_vars
            day = np.asarray(data["day"])
            for column, line in lines.items():
                if column == "blasts":
                    values = 100 * np.asarray(data["tumor_cells"], dtype=float) / max(arm.marrow_sites, 1)
                else:
                    values = np.asarray(data[column], dtype=float)
                if column == "antigen_negative_fraction":   # a share of a handful of cells means nothing
                    values = np.where(np.asarray(data["tumor_cells"]) >= MIN_CELLS_FOR_SHARE, 100 * values, np.nan)
                line.set_data(day, values)
        for ax, column in ((self.size, ("blasts",) if self.marrow else ("apparent_mm", "viable_mm")),
                           (self.cart, ("cart_lesion",))):
            top = max(max(lines[c].get_ydata().max(initial=0) for c in column) for lines in self.lines)
            if top > ax.get_ylim()[1]:
                ax.set_ylim(0, 2 * top)
                self.background = None
        if self.background is None:
            self.canvas.draw()
            self.background = self.canvas.copy_from_bbox(self.fig.bbox)
            self.scanned = None
        scans = tuple(len(arm.scans) for arm in self.arms)
        if scans != self.scanned:
            self.canvas.restore_region(self.background)
            self._draw_scans()
            self.with_scans, self.scanned = self.canvas.copy_from_bbox(self.fig.bbox), scans
        self.canvas.restore_region(self.with_scans)
        for lines in self.lines:
            for line in lines.values():
                line.axes.draw_artist(line)
        self.drawn, self.png = state, _encode(np.asarray(self.canvas.buffer_rgba()))
        return self.png

    def _draw_scans(self) -> None:
        """Scan days as grey lines; each arm's calls as coloured labels on its own row of the strip (blitted)."""
        for artist in self.scan_marks:
            artist.remove()
        self.scan_marks = []
        for row, arm in enumerate(self.arms):
            y = len(self.arms) - 1 - row
            for scan in arm.scans[1:]:
                label = scan_label(scan)
                self.scan_marks.append(self.strip.text(
                    scan.day, y, label, ha="center", va="center", fontsize=FONT_PT, weight="bold", animated=True,
                    bbox=dict(boxstyle="round,pad=0.25", fc=CALL_COLOURS.get(scan.call, "white"), ec="none")))
        for scan in self.arms[0].scans:
            for ax in (self.size, self.cart, self.blood, self.escape):
                self.scan_marks.append(ax.axvline(scan.day, color="0.8", lw=1, animated=True))
        for artist in self.scan_marks:
            artist.axes.draw_artist(artist)
