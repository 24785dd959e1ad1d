"""Figure type 3: attack-scaling slope against model size, with R² annotated.

Each point is one size's OLS slope of logit10(ASR) on log10(attack compute fraction) over
iterations and seeds (``metrics.size_slopes``), labelled with that fit's R² wherever the label
has room (the caption lists the others); the line is the OLS of those slopes on
log10(parameters) (``metrics.slope_trend``), whose slope and R² the panel title gives. A rising
line means larger models' robustness erodes faster per decade of attack compute. Finetuned
(round-0) models only, as in the paper. A reference table's slopes are open markers with a
dashed trend, and its trends are listed in the caption.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from robustness_scaling.analysis.metrics import size_slopes, slope_trend
from robustness_scaling.figures import style
from robustness_scaling.figures.options import FigureOptions
from robustness_scaling.figures.selection import (
    finetuned,
    one_family,
    panel_keys,
    select,
    tasks_in_order,
)

TITLE = "Attack-scaling slope vs model size"
UNFITTED = "fewer than two iterations with 0 < ASR < 1"


def plot_slopes_vs_size(
    table: pd.DataFrame,
    stem: str | Path,
    options: FigureOptions | None = None,
    reference: pd.DataFrame | None = None,
) -> list[Path]:
    """Draw figure type 3 from the attacks table; write ``stem.png`` and ``stem.pdf``."""
    rows = finetuned(table)
    slopes = size_slopes(rows) if not rows.empty else pd.DataFrame()
    if slopes.empty or not np.isfinite(slopes["slope"]).any():
        return style.empty_figure(
            stem, TITLE, "no finetuned model has two iterations with 0 < ASR < 1 to fit a slope"
        )
    family = one_family(rows, "the slopes figure")
    ref_rows = None if reference is None else finetuned(reference)
    ref = None if ref_rows is None or ref_rows.empty else size_slopes(ref_rows)
    fitted = slopes[np.isfinite(slopes["slope"])]
    layout = [panel_keys(fitted[fitted["task"] == task]) for task in tasks_in_order(fitted)]
    notes = _unfitted(slopes)
    palette = style.size_palette(rows, ref_rows)
    sizes = style.sizes_in_order(rows, ref_rows)
    labels: list[style.PointLabel] = []
    names = {}
    with style.figure_style():
        fig, axes = style.panel_layout(layout)
        for key, ax in axes.items():
            task, attack, position = key
            name = names[ax] = f"{task} · {style.attack_label(attack, position)}"
            panel = select(fitted, key)
            trend = _trend(panel)
            _draw(ax, panel, trend, palette)
            labels += [(ax, p.n_params, p.slope, f"R²={p.r2:.2f}") for p in panel.itertuples()]
            ref_panel = select(ref, key)
            if ref_panel is not None:
                ref_panel = ref_panel[np.isfinite(ref_panel["slope"])]
            if ref_panel is not None and not ref_panel.empty:
                ref_trend = _trend(ref_panel)
                _draw(ax, ref_panel, ref_trend, palette, reference=True)
                notes.append(f"{name}: {style.REFERENCE_LABEL}'s {_describe(ref_trend)}")
            _axes(ax, sizes)
            ax.set_title(f"{name}\n{_describe(trend)}")
        style.size_legend(fig, palette, sizes, family, ref is not None)
        fig.suptitle(TITLE, fontweight="bold")
        style.fit_titles(fig)  # the layout is final from here: the labels go in its free space
        left_out = style.place_point_labels(fig, labels)
        notes += [
            f"{names[ax]}: R² of the {style.size_label(n)} fit, not shown for lack of room: "
            f"{text[3:]}"
            for ax, n, _, text in left_out
        ]
        style.caption(fig, notes)
        return style.save_figure(fig, stem)


def _trend(panel: pd.DataFrame) -> pd.Series:
    """The panel's slope-on-size regression (one ``SLOPE_GROUP``: the first, as the table
    keeps one finetuned evaluation per model)."""
    return slope_trend(panel).iloc[0]


def _describe(trend: pd.Series) -> str:
    if not np.isfinite(trend["trend_slope"]):
        return "trend: one size fitted"
    return f"trend {trend['trend_slope']:+.3f}/decade, R² {trend['trend_r2']:.2f}"


def _unfitted(slopes: pd.DataFrame) -> list[str]:
    """Caption lines for the evaluations and sizes that have rows but no slope."""
    notes = []
    for (task, attack, position), group in slopes.groupby(["task", "attack", "position"]):
        missing = group[~np.isfinite(group["slope"])]
        if missing.empty:
            continue
        name = f"{task} · {style.attack_label(attack, position)}"
        if len(missing) == len(group):
            notes.append(f"{name}: no panel, no size has {UNFITTED}")
        else:
            which = ", ".join(style.size_label(n) for n in missing["n_params"])
            notes.append(f"{name}: no slope for {which} ({UNFITTED})")
    return notes


def _draw(ax, panel, trend, palette: dict, reference: bool = False) -> None:
    for point in panel.itertuples(index=False):
        color = palette[point.size]
        face = "white" if reference else color
        ax.scatter(point.n_params, point.slope, s=45, zorder=3, edgecolors=color, c=[face])
    if np.isfinite(trend["trend_slope"]):
        xs = np.array([panel["n_params"].min(), panel["n_params"].max()], dtype=float)
        ax.plot(
            xs,
            trend["trend_slope"] * np.log10(xs) + trend["trend_intercept"],
            color="0.2",
            lw=1.2,
            ls=style.REFERENCE_LINE if reference else "-",
            zorder=2,
        )


def _axes(ax, sizes) -> None:
    style.size_axis(ax, sizes)
    low, high = ax.get_ylim()
    pad = 0.2 * (high - low or 1.0)
    ax.set_ylim(low - pad, high + pad)  # room for the R² labels above and below the points
    ax.set_ylabel("slope of logit10 ASR\nvs log10 attack compute")
