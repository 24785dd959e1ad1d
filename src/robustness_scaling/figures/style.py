"""One look for every figure: theme, size palette, size labels, panel grids, axes, saving.

Every figure module draws through these helpers, so all figures share fonts, colours (sizes on
one sequential palette, small = dark, large = light, the same colour for a size everywhere) and
human size labels (``7.6M``, ``1.3B``, ``12k``), and every figure is written the same way: PNG and
PDF, atomically, with the figure closed afterwards so a long report run does not leak memory.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display, no network: figures are files

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
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


def sizes_in_order(table: pd.DataFrame) -> list[tuple[str, int]]:
    """The table's (size name, parameter count) pairs, smallest model first."""
    pairs = table[["size", "n_params"]].drop_duplicates("size")
    return [(str(s), int(n)) for s, n in pairs.sort_values("n_params").itertuples(index=False)]


def size_palette(table: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    """Size name → colour on one sequential palette, ordered by parameter count.

    The palette stops short of viridis' pale yellow end, which vanishes on a white background.
    """
    sizes = sizes_in_order(table)
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


def row_label(family: str, task: str, several_families: bool) -> str:
    return f"{family} · {task}" if several_families else task


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


def size_legend(fig: Figure, palette: dict[str, tuple], sizes: Sequence[tuple[str, int]]) -> None:
    """One legend of model sizes for the whole figure, outside the panels."""
    handles = [
        Line2D([], [], color=palette[size], marker="o", lw=2, label=size_label(n))
        for size, n in sizes
    ]
    fig.legend(handles=handles, title="model size", loc="outside right center")


def median_band(
    ax: Axes, x: np.ndarray, median: np.ndarray, low: np.ndarray, high: np.ndarray, color, label=""
) -> None:
    """Median line with markers and a shaded min–max band over seeds."""
    marker = "o" if len(x) <= 40 else None  # markers on long curves would hide the line
    ax.plot(x, median, color=color, marker=marker, ms=4, lw=1.8, label=label)
    if np.any(high > low):
        ax.fill_between(x, low, high, color=color, alpha=0.18, lw=0)


def caption(fig: Figure, lines: Sequence[str]) -> None:
    """Notes under the panels (what a figure drew differently from what was asked), wrapped
    to the figure's width; the saved file's tight bounding box takes them in."""
    if lines:
        width = max(40, int(fig.get_figwidth() * CAPTION_CHARS_PER_INCH))
        text = "\n".join(textwrap.fill(line, width, subsequent_indent="  ") for line in lines)
        fig.text(0.0, 0.0, text, ha="left", va="top", fontsize=8, color="0.3")


def thin_tick_labels(fig: Figure) -> None:
    """Hide each tick label that would touch the one before it on its axis (close model sizes
    such as 354M and 494M, or 10⁻³ and 2×10⁻³ on a narrow panel): the first of a crowded run
    is kept, the legend names every size."""
    fig.canvas.draw()
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
        thin_tick_labels(fig)
        for fmt in formats:
            path = Path(f"{stem}.{fmt}")
            metadata = {"CreationDate": None} if fmt == "pdf" else None
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=DPI, metadata=metadata)
            written.append(path)
    finally:
        plt.close(fig)
    return written
