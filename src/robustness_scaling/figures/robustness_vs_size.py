"""Figure type 1: finetuned models' robustness against model size (docs/method.md "Figures").

Top row of each task: ASR at a fixed attack iteration against parameter count, median and
min–max over seeds, one panel per evaluation attack. Below it: accuracy before and after the
attack, since a larger model may look more robust merely by being more accurate.
Post-attack accuracy is ``clean_accuracy × (1 − ASR)``: only correctly classified examples are
attacked, and each success turns one of them into an error.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.lines import Line2D

from robustness_scaling.figures import style
from robustness_scaling.figures.options import FigureOptions
from robustness_scaling.figures.selection import (
    at_iteration,
    drawn_elsewhere,
    finetuned,
    iteration_note,
    over_seeds,
    panel_rows,
    several_families,
)

TITLE = "Robustness of finetuned models vs size"
ASR_COLOR = "#2a3f8f"


def plot_robustness_vs_size(
    table: pd.DataFrame, stem: str | Path, options: FigureOptions | None = None
) -> list[Path]:
    """Draw figure type 1 from the attacks table and write ``stem.png`` and ``stem.pdf``."""
    options = options or FigureOptions()
    rows = finetuned(table)
    if rows.empty:
        return style.empty_figure(stem, TITLE, "no round-0 (finetuned) rows in the table")
    rows = at_iteration(rows, options.size_iteration).copy()
    rows["post_attack_accuracy"] = rows["clean_accuracy"] * (1.0 - rows["asr"])
    attacks = sorted(set(zip(rows["attack"], rows["position"], strict=True)))
    tasks = panel_rows(rows)
    sizes = style.sizes_in_order(rows)
    with style.figure_style():
        fig, axes = style.panel_grid(2 * len(tasks), len(attacks))
        for r, (family, task) in enumerate(tasks):
            label = style.row_label(family, task, several_families(rows))
            for c, (attack, position) in enumerate(attacks):
                panel = rows[
                    (rows["family"] == family)
                    & (rows["task"] == task)
                    & (rows["attack"] == attack)
                    & (rows["position"] == position)
                ]
                asr_ax, acc_ax = axes[2 * r, c], axes[2 * r + 1, c]
                name = style.attack_label(attack, position)
                if panel.empty:
                    style.empty_panel(asr_ax, f"{label}: no {name} evaluation")
                    style.empty_panel(acc_ax, "")
                    continue
                _draw_asr(asr_ax, panel, sizes)
                asr_ax.set_title(f"{label}\n{name}: ASR{iteration_note(panel)}")
                _draw_accuracy(acc_ax, panel, sizes)
                acc_ax.set_title(f"{label}\n{name}: accuracy")
        fig.legend(
            handles=[
                Line2D([], [], color=color, marker="o", lw=2, label=f"{name} accuracy")
                for name, color in style.ACCURACY_COLORS.items()
            ],
            loc="outside right center",
        )
        fig.suptitle(TITLE, fontweight="bold")
        style.caption(fig, drawn_elsewhere(rows))
        return style.save_figure(fig, stem)


def _draw_asr(ax, panel: pd.DataFrame, sizes) -> None:
    s = over_seeds(panel, ["n_params"], "asr")
    style.median_band(ax, s["n_params"], s["median"], s["low"], s["high"], ASR_COLOR)
    style.size_axis(ax, sizes)
    ax.set_ylim(-0.02, 1.02)
    style.percent_axis(ax, "attack success rate")


def _draw_accuracy(ax, panel: pd.DataFrame, sizes) -> None:
    for name, column in (
        ("pre-attack", "clean_accuracy"),
        ("post-attack", "post_attack_accuracy"),
    ):
        s = over_seeds(panel, ["n_params"], column)
        color = style.ACCURACY_COLORS[name]
        style.median_band(ax, s["n_params"], s["median"], s["low"], s["high"], color)
    style.size_axis(ax, sizes)
    ax.set_ylim(-0.02, 1.02)
    style.percent_axis(ax, "accuracy")
