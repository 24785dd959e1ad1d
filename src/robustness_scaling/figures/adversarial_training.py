"""Figure type 4: adversarial training, ASR against defense compute, one line per size.

x is the cumulative adversarial-training compute of each round (training plus generating its
adversarial examples; averaged over seeds), as a fraction of pretraining compute or in FLOPs; y
is the smoothed logit10 ASR at a fixed attack iteration (the paper's ASR@128), median and
min–max over seeds. Beside it: pre-attack accuracy, which adversarial training must not destroy.
Round 0 spent no defense compute and has no place on the log axis; figure type 1 shows it.

``draw_defense`` is shared with figure type 5 (transfer), which uses the same axes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from robustness_scaling.analysis.metrics import (
    DEFENSE_FRACTION,
    smoothed_logit_asr,
    with_compute_fractions,
)
from robustness_scaling.figures import style
from robustness_scaling.figures.options import FigureOptions
from robustness_scaling.figures.selection import (
    at_iteration,
    drawn_elsewhere,
    iteration_note,
    matched,
    several_families,
)

TITLE = "Adversarial training: robustness vs defense compute"
NO_TRAINING = (
    "no adversarially trained models in the table\n"
    "(a round-0-only study has no adversarial-training curve)"
)


def plot_adversarial_training(
    table: pd.DataFrame, stem: str | Path, options: FigureOptions | None = None
) -> list[Path]:
    """Draw figure type 4 (models attacked with their own training attack); write PNG and PDF."""
    options = options or FigureOptions()
    rows = defense_rows(matched(table), options)
    if rows.empty:
        return style.empty_figure(stem, TITLE, NO_TRAINING)
    groups = sorted(set(rows[["family", "task", "attack", "position"]].itertuples(index=False)))
    palette = style.size_palette(rows)
    with style.figure_style():
        fig, axes = style.panel_grid(len(groups), 2)
        for r, (family, task, attack, position) in enumerate(groups):
            panel = rows[
                (rows["family"] == family)
                & (rows["task"] == task)
                & (rows["attack"] == attack)
                & (rows["position"] == position)
            ]
            label = style.row_label(family, task, several_families(rows))
            name = style.attack_label(attack, position)
            draw_defense(axes[r, 0], panel, palette, "logit_asr", options)
            style.logit_axis(axes[r, 0], f"ASR{iteration_note(panel)} (logit scale)")
            axes[r, 0].set_title(f"{label}\ntrained and attacked: {name}")
            draw_defense(axes[r, 1], panel, palette, "clean_accuracy", options)
            style.percent_axis(axes[r, 1], "pre-attack accuracy")
            axes[r, 1].set_title(f"{label}\naccuracy, trained: {name}")
        style.size_legend(fig, palette, style.sizes_in_order(rows))
        fig.suptitle(TITLE, fontweight="bold")
        style.caption(fig, drawn_elsewhere(rows))
        return style.save_figure(fig, stem)


def defense_rows(rows: pd.DataFrame, options: FigureOptions) -> pd.DataFrame:
    """Trained rounds at the figure's attack iteration, with defense x and logit-ASR y columns."""
    rows = rows[rows["round"] > 0]
    if rows.empty:
        return rows
    rows = with_compute_fractions(at_iteration(rows, options.defense_iteration))
    rows["defense_x"] = (
        rows[DEFENSE_FRACTION]
        if options.defense_axis == "fraction"
        else rows[DEFENSE_FRACTION] * rows["pretrain_flops"]
    )
    rows["logit_asr"] = smoothed_logit_asr(rows["asr"], rows["n_val"])
    return rows[rows["defense_x"] > 0]


def draw_defense(ax, panel: pd.DataFrame, palette: dict, value: str, options: FigureOptions):
    """Per size: median of ``value`` over seeds at each round, min–max band, against defense x."""
    for size, by_size in panel.groupby("size", sort=False):
        s = (
            by_size.groupby("round")
            .agg(
                x=("defense_x", "first"),
                median=(value, "median"),
                low=(value, "min"),
                high=(value, "max"),
            )
            .sort_values("x")
        )
        style.median_band(ax, s["x"].to_numpy(), s["median"], s["low"], s["high"], palette[size])
    style.log_axis(ax, "x")
    ax.set_xlabel(
        "defense compute / pretraining compute"
        if options.defense_axis == "fraction"
        else "defense compute (FLOPs)"
    )
    if value == "logit_asr":
        low, high = ax.get_ylim()
        ax.set_ylim(min(low, float(np.floor(low))), max(high, float(np.ceil(high))))
