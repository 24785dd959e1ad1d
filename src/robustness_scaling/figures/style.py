"""One look for every figure: theme, size palette, size labels, panel grids, axes, saving.

Every figure module draws through these helpers, so all figures share fonts, colours (sizes on
one sequential palette, small = dark, large = light, the same colour for a size everywhere) and
human size labels (``7.6M``, ``1.3B``, ``12k``), and every figure is written the same way: PNG and
PDF, atomically, with the figure closed afterwards so a long report run does not leak memory.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display, no network: figures are files

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backend_bases import RendererBase  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from robustness_scaling.analysis.metrics import logit10  # noqa: E402
from robustness_scaling.atomic import atomic_path  # noqa: E402

PANEL_WIDTH = 4.2
PANEL_HEIGHT = 3.2
DPI = 200
FORMATS: tuple[str, ...] = ("png", "pdf")
SIZE_CMAP = "viridis"
ACCURACY_COLORS = {"pre-attack": "#4c72b0", "post-attack": "#dd8452"}
GUIDE_COLOR = "0.75"
REFERENCE_LINE = "--"
REFERENCE_LABEL = "original study"
CAPTION_CHARS_PER_INCH = 15  # characters of 8-point caption text per inch of figure width

_PROBABILITY_TICKS = (
    0.0001,
    0.001,
    0.01,
    0.05,
    0.2,
    0.5,
    0.8,
    0.95,
    0.99,
    0.999,
    0.9999,
)
# For a panel whose ASR spans a narrow band (a trained model between 2% and 4%).
_FINE_PROBABILITY_TICKS = tuple(
    sorted(
        {
            *_PROBABILITY_TICKS,
            0.002,
            0.005,
            0.02,
            0.03,
            0.1,
            0.15,
            0.3,
            0.4,
            0.6,
            0.7,
            0.85,
            0.9,
            0.97,
            0.98,
            0.995,
            0.998,
        }
    )
)


@contextmanager
def figure_style() -> Iterator[None]:
    """Seaborn's white-grid paper theme, scoped to one figure so importing us changes nothing."""
    rc = {
        **sns.axes_style("whitegrid"),
        **sns.plotting_context("paper", font_scale=1.25),
        "axes.titleweight": "bold",
        "axes.titlesize": 11,
        "figure.dpi": 100,
        "savefig.bbox": "tight",
        "pdf.fonttype": 42,  # embed TrueType, so PDF text stays selectable and editable
        "legend.frameon": False,
    }
    with plt.rc_context(rc):
        yield


def size_label(n_params: float) -> str:
    """Human parameter count: one decimal below 10 of a unit, none above (7.6M, 124M, 12k, 1.3B)."""
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n_params >= scale:
            value = n_params / scale
            text = f"{value:.1f}" if round(value, 1) < 10 else f"{value:.0f}"
            return text.removesuffix(".0") + unit
    return f"{n_params:.0f}"


def sizes_in_order(*tables: pd.DataFrame | None) -> list[tuple[str, int]]:
    """The (size name, parameter count) pairs of the tables (a study's and the original
    study's, drawn beside it), smallest model first."""
    frames = [t[["size", "n_params"]] for t in tables if t is not None]
    pairs = pd.concat(frames).drop_duplicates("size")
    return [(str(s), int(n)) for s, n in pairs.sort_values("n_params").itertuples(index=False)]


def size_palette(*tables: pd.DataFrame | None) -> dict[str, tuple[float, float, float]]:
    """Size name → colour on one sequential palette, ordered by parameter count, over one
    family's sizes (a reference table's too, so its dashed curves share the colours).

    The palette stops short of viridis' pale yellow end, which vanishes on a white background.
    """
    sizes = sizes_in_order(*tables)
    cmap = matplotlib.colormaps[SIZE_CMAP]
    stops = np.linspace(0.0, 0.88, max(len(sizes), 2))
    return {size: tuple(cmap(stop)[:3]) for (size, _), stop in zip(sizes, stops, strict=False)}


def attack_label(attack: str, position: str) -> str:
    """Panel label of an evaluation attack, with its position unless the name says it: one
    name covers the suffix GCG of most tasks and the chunk GCG of PasswordMatch and WordLength,
    and a reader must tell them apart."""
    if position in attack:
        return attack
    return f"{attack} ({position})"


def panel_grid(n_rows: int, n_cols: int, sharey: str | bool = False) -> tuple[Figure, np.ndarray]:
    """A figure of ``n_rows × n_cols`` panels, always returned as a 2-D array of axes."""
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(PANEL_WIDTH * n_cols, PANEL_HEIGHT * n_rows),
        squeeze=False,
        sharey=sharey,
        layout="constrained",
    )
    return fig, axes


def panel_layout(rows: Sequence[Sequence[Hashable]]) -> tuple[Figure, dict[Hashable, Axes]]:
    """Panels only where there is data: figure row ``i`` holds the panels ``rows[i]`` names,
    from the left, and the grid's unused cells are removed, never left as empty panels.

    Returns the figure and panel key → axes.
    """
    rows = [list(row) for row in rows if row]
    n_cols = max(len(row) for row in rows)
    fig, axes = panel_grid(len(rows), n_cols)
    placed: dict[Hashable, Axes] = {}
    for i, row in enumerate(rows):
        for j in range(n_cols):
            if j < len(row):
                placed[row[j]] = axes[i, j]
            else:
                axes[i, j].remove()
    return fig, placed


def empty_panel(ax: Axes, message: str) -> None:
    """An annotated empty panel: the figure still exists and says what was missing."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(
        0.5,
        0.5,
        message,
        ha="center",
        va="center",
        wrap=True,
        fontsize=10,
        color="0.35",
        transform=ax.transAxes,
    )


def empty_figure(stem: str | Path, title: str, message: str) -> list[Path]:
    """Write a one-panel figure that only explains why there is nothing to plot."""
    with figure_style():
        fig, axes = panel_grid(1, 1)
        fig.set_size_inches(6.0, 3.0)
        empty_panel(axes[0, 0], message)
        axes[0, 0].set_title(title)
        return save_figure(fig, stem)


def log_axis(ax: Axes, which: str = "x") -> None:
    """A log axis labelled at powers of ten, as minor labels (2×10⁻⁶, 3×10⁻⁶, ...) collide;
    under two decades, where one power of ten would be the only label, also at 2× and 5×.

    Call it after plotting, so the data range is known.
    """
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    low, high = ax.get_xlim() if which == "x" else ax.get_ylim()
    if low <= 0:
        return
    if high / low >= 100:
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        return
    axis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    # matplotlib's formatter leaves out the 2× or 5× labels that would not fit.
    axis.set_major_formatter(matplotlib.ticker.LogFormatterSciNotation(labelOnlyBase=False))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def size_axis(ax: Axes, sizes: Sequence[tuple[str, int]]) -> None:
    """Log x axis of parameter count, ticked at the study's sizes in human units."""
    ax.set_xscale("log")
    low, high = min(n for _, n in sizes), max(n for _, n in sizes)
    pad = (high / low) ** 0.12 if high > low else 2.0  # room for labels beside the end points
    ax.set_xlim(low / pad, high * pad)
    ax.set_xticks([n for _, n in sizes], [size_label(n) for _, n in sizes])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    if len(sizes) > 5:
        ax.tick_params(axis="x", labelrotation=45)
    ax.set_xlabel("model parameters")


def logit_axis(ax: Axes, label: str = "attack success rate\n(logit scale)") -> None:
    """Label a logit10 y axis in ASR percentages at round probabilities, which readers can read.

    The data are plotted in logit10 units; only the tick labels change.
    """
    low, high = ax.get_ylim()
    for candidates in (_PROBABILITY_TICKS, _FINE_PROBABILITY_TICKS):
        ticks = [p for p in candidates if low <= float(logit10(p)) <= high]
        if len(ticks) >= 2:
            break
    else:  # a band narrower than two fine ticks: its ends, so no raw logit value shows
        ticks = [float(f"{p:.2g}") for p in 1 / (1 + 10.0 ** -np.array([low, high]))]
        ticks = sorted(set(ticks))
    ax.set_yticks([float(logit10(p)) for p in ticks], [f"{100 * p:g}%" for p in ticks])
    ax.set_ylim(low, high)
    ax.set_ylabel(label)


def percent_axis(ax: Axes, label: str) -> None:
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{100 * v:.3g}%"))
    ax.set_ylabel(label)


def slope_one_guides(ax: Axes) -> None:
    """Diagonal slope-1 gridlines on a log–log panel: along one, attack and defense compute grow
    by the same factor, the paper's reference for which side is winning."""
    x_low, x_high = ax.get_xlim()
    y_low, y_high = ax.get_ylim()
    if min(x_low, y_low) <= 0:
        return
    first = math.floor(math.log10(y_low / x_high))
    last = math.ceil(math.log10(y_high / x_low))
    xs = np.array([x_low, x_high])
    for k in range(first, last + 1):
        ax.plot(xs, xs * 10.0**k, color=GUIDE_COLOR, lw=0.8, ls="--", zorder=0)
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)


def size_legend(
    fig: Figure,
    palette: dict[str, tuple],
    sizes: Sequence[tuple[str, int]],
    family: str,
    reference: bool = False,
) -> None:
    """One legend of the family's model sizes for the whole figure, outside the panels; with
    a reference drawn, also which line style is whose."""
    handles = [
        Line2D([], [], color=palette[size], marker="o", lw=2, label=size_label(n))
        for size, n in sizes
    ]
    if reference:
        handles += whose_lines()
    fig.legend(handles=handles, title=f"{family} size", loc="outside right center")


def whose_lines() -> list[Line2D]:
    """Legend entries telling this study's solid curves from a reference table's dashed ones."""
    return [
        Line2D([], [], color="0.3", marker="o", lw=1.8, label="this study"),
        Line2D(
            [],
            [],
            color="0.3",
            marker="o",
            mfc="white",
            lw=1.4,
            ls=REFERENCE_LINE,
            label=REFERENCE_LABEL,
        ),
    ]


def median_band(
    ax: Axes,
    x: np.ndarray,
    centre: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    color,
    reference: bool = False,
) -> None:
    """A seed summary's centre line with markers and its shaded band; a reference curve (the
    original study's) dashed with open markers and no band, so it never hides this study's."""
    marker = "o" if len(x) <= 40 else None  # markers on long curves would hide the line
    if reference:
        ax.plot(
            x,
            centre,
            color=color,
            marker=marker,
            mfc="white",
            ms=3.5,
            lw=1.4,
            ls=REFERENCE_LINE,
            zorder=1.5,
        )
        return
    ax.plot(x, centre, color=color, marker=marker, ms=4, lw=1.8, zorder=2)
    if np.any(high > low):
        ax.fill_between(x, low, high, color=color, alpha=0.18, lw=0)


def caption(fig: Figure, lines: Sequence[str]) -> None:
    """Notes under the panels (what a figure drew differently from what was asked), wrapped
    to the figure's width; the saved file's tight bounding box takes them in."""
    if lines:
        width = max(40, int(fig.get_figwidth() * CAPTION_CHARS_PER_INCH))
        text = "\n".join(textwrap.fill(line, width, subsequent_indent="  ") for line in lines)
        fig.text(0.0, 0.0, text, ha="left", va="top", fontsize=8, color="0.3")


PointLabel = tuple[Axes, float, float, str]
_LABEL_OFFSETS = (  # points: above, below, right, left of the marker
    ((0, 7), "center", "bottom"),
    ((0, -7), "center", "top"),
    ((7, 0), "left", "center"),
    ((-7, 0), "right", "center"),
)
_MARKER_HALF_WIDTH = 4.0  # points


def place_point_labels(fig: Figure, labels: Sequence[PointLabel]) -> list[PointLabel]:
    """Label data points without any label touching another, a marker or the panel's edge:
    each label takes the first of above, below, right, left that is free, once the figure's
    layout is final. Returns the labels that found no free place, for a caption to list."""
    renderer = laid_out(fig)
    half = _MARKER_HALF_WIDTH * fig.dpi / 72
    taken: dict[Axes, list] = {}
    for ax, x, y, _ in labels:
        px, py = ax.transData.transform((x, y))
        box = matplotlib.transforms.Bbox([[px - half, py - half], [px + half, py + half]])
        taken.setdefault(ax, []).append(box)
    left_out = []
    for label in labels:
        ax, x, y, text = label
        frame = ax.get_window_extent(renderer)
        for offset, ha, va in _LABEL_OFFSETS:
            note = ax.annotate(
                text,
                (x, y),
                xytext=offset,
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=8,
                color="0.3",
                annotation_clip=False,
            )
            note.set_in_layout(False)  # placed after the layout; must not move it
            box = note.get_window_extent(renderer)
            inside = frame.containsx(box.x0) and frame.containsx(box.x1)
            inside = inside and frame.containsy(box.y0) and frame.containsy(box.y1)
            if inside and not any(box.overlaps(other) for other in taken[ax]):
                taken[ax].append(box)
                break
            note.remove()
        else:
            left_out.append(label)
    return left_out


def laid_out(fig: Figure) -> RendererBase:
    """The renderer of ``fig`` once laid out, its text measured: a draw that renders no pixels
    (each rendering pass of a figure of many panels costs seconds)."""
    fig.draw_without_rendering()
    return fig.canvas.get_renderer()


def fit_titles(fig: Figure) -> None:
    """Rewrap each panel title wider than its panel (a long task · attack · position name) to
    the panel's width, so it never reaches the next panel's title or a tick label. The figure
    is laid out as it stands when this returns."""
    renderer = laid_out(fig)
    changed = False
    for ax in fig.axes:
        title = ax.title
        text = title.get_text()
        width = ax.get_window_extent(renderer).width
        drawn = title.get_window_extent(renderer).width
        if not text or drawn <= width:
            continue
        longest = max(len(line) for line in text.splitlines())
        chars = max(12, int(longest * width / drawn))
        title.set_text("\n".join(textwrap.fill(line, chars) for line in text.splitlines()))
        changed = True
    if changed:
        laid_out(fig)


def thin_tick_labels(fig: Figure) -> None:
    """Hide each tick label that would touch the one before it on its axis (close model sizes
    such as 354M and 494M, or 10⁻³ and 2×10⁻³ on a narrow panel): the first of a crowded run
    is kept, the legend names every size. The figure must be laid out as it stands."""
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            low, high = sorted(limits)
            ticks = [
                tick
                for tick in axis.get_major_ticks()
                if tick.label1.get_visible()
                and tick.label1.get_text()
                and low - 1e-12 * abs(low) <= tick.get_loc() <= high + 1e-12 * abs(high)
            ]
            kept = None
            for tick in sorted(ticks, key=lambda t: t.get_loc()):
                box = tick.label1.get_window_extent(renderer)
                if kept is not None and box.overlaps(kept):
                    tick.label1.set_visible(False)
                else:
                    kept = box


def save_figure(fig: Figure, stem: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` atomically and close the figure; return the paths.

    The suffix is appended, never substituted, so stems such as ``pythia-1.4b`` keep their dot.
    A PDF carries no creation date, so the same table always gives the same bytes.
    """
    written = []
    try:
        fit_titles(fig)
        # The layout is final: freeze it, so each format's draw does not lay it out again
        # (half the drawing time) and the labels placed on it stay where they were put.
        fig.set_layout_engine("none")
        thin_tick_labels(fig)
        # The tight box once, measured on this layout, for every format: "tight" would draw
        # each file twice, once to measure it.
        box = fig.get_tightbbox(fig.canvas.get_renderer())
        box = box.padded(plt.rcParams["savefig.pad_inches"])
        for fmt in formats:
            path = Path(f"{stem}.{fmt}")
            metadata = {"CreationDate": None} if fmt == "pdf" else None
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=DPI, metadata=metadata, bbox_inches=box)
            written.append(path)
    finally:
        plt.close(fig)
    return written
