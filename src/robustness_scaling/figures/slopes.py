"""Figure type 3: attack-scaling slope against model size, with R² annotated.

Each point is one size's OLS slope of logit10(ASR) on log10(attack compute fraction) over
iterations and seeds (``metrics.size_slopes``), labelled with that fit's R²; the line is the OLS
of those slopes on log10(parameters) (``metrics.slope_trend``), with its own slope and R² in the
corner. A rising line means larger models' robustness erodes faster per decade of attack compute.
Finetuned (round-0) models only, as in the paper.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from robustness_scaling.analysis.metrics import size_slopes, slope_trend
from robustness_scaling.figures import style
from robustness_scaling.figures.options import FigureOptions
from robustness_scaling.figures.selection import finetuned, several_families

TITLE = "Attack-scaling slope vs model size"


def plot_slopes_vs_size(
    table: pd.DataFrame, stem: str | Path, options: FigureOptions | None = None
) -> list[Path]:
    """Draw figure type 3 from the attacks table; write ``stem.png`` and ``stem.pdf``."""
    rows = finetuned(table)
    slopes = size_slopes(rows) if not rows.empty else pd.DataFrame()
    if slopes.empty or not np.isfinite(slopes["slope"]).any():
        return style.empty_figure(
            stem, TITLE, "no finetuned model has two iterations with 0 < ASR < 1 to fit a slope"
        )
    trends = slope_trend(slopes)
    attacks = sorted(set(zip(slopes["attack"], slopes["position"], strict=True)))
    tasks = sorted(set(zip(slopes["family"], slopes["task"], strict=True)))
    palette = style.size_palette(rows)
    sizes = style.sizes_in_order(rows)
    with style.figure_style():
        fig, axes = style.panel_grid(len(tasks), len(attacks))
        for r, (family, task) in enumerate(tasks):
            label = style.row_label(family, task, several_families(rows))
            for c, (attack, position) in enumerate(attacks):
                ax = axes[r, c]
                name = style.attack_label(attack, position)
                selected = (
                    (slopes["family"] == family)
                    & (slopes["task"] == task)
                    & (slopes["attack"] == attack)
                    & (slopes["position"] == position)
                )
                panel = slopes[selected & np.isfinite(slopes["slope"])]
                if panel.empty:
                    style.empty_panel(ax, f"{label}: no {name} slope could be fitted")
                    continue
                trend = trends[
                    (trends["family"] == family)
                    & (trends["task"] == task)
                    & (trends["attack"] == attack)
                    & (trends["position"] == position)
                ].iloc[0]
                _draw(ax, panel, trend, palette, sizes)
                ax.set_title(f"{label}\n{name}")
        style.size_legend(fig, palette, sizes)
        fig.suptitle(TITLE, fontweight="bold")
        return style.save_figure(fig, stem)


def _draw(ax, panel: pd.DataFrame, trend: pd.Series, palette: dict, sizes) -> None:
    for point in panel.itertuples(index=False):
        ax.scatter(point.n_params, point.slope, color=palette[point.size], s=45, zorder=3)
        ax.annotate(
            f"R²={point.r2:.2f}",
            (point.n_params, point.slope),
            textcoords="offset points",
            xytext=(0, 8),
            ha="center",
            fontsize=8,
            color="0.3",
        )
    if np.isfinite(trend["trend_slope"]):
        xs = np.array([panel["n_params"].min(), panel["n_params"].max()], dtype=float)
        ax.plot(
            xs,
            trend["trend_slope"] * np.log10(xs) + trend["trend_intercept"],
            color="0.2",
            lw=1.2,
            ls="--",
            zorder=2,
        )
        r2 = trend["trend_r2"]
        falling = trend["trend_slope"] < 0  # points run top-left to bottom-right: use bottom-left
        ax.text(
            0.03,
            0.04 if falling else 0.96,
            f"slope per decade of size: {trend['trend_slope']:+.3f}\nR² = {r2:.2f}",
            transform=ax.transAxes,
            fontsize=9,
            va="bottom" if falling else "top",
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.8"},
        )
    style.size_axis(ax, sizes)
    low, high = ax.get_ylim()
    pad = 0.15 * (high - low or 1.0)
    ax.set_ylim(low - pad, high + pad)  # room for the R² labels and the trend box
    ax.set_ylabel("slope of logit10 ASR\nvs log10 attack compute")
