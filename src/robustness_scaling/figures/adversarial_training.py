"""Figure type 4: adversarial training, ASR against defense compute, one line per size.

x is the cumulative adversarial-training compute of each round (training plus generating its
adversarial examples; averaged over seeds), as a fraction of pretraining compute or in FLOPs; y
is the smoothed logit10 ASR at a fixed attack iteration (the paper's ASR@128), summarised over
seeds; a reference table's curves dashed beside them. Beside it: pre-attack accuracy, which
adversarial training must not destroy.
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
    one_family,
    over_seeds,
    panel_keys,
    select,
    summary_note,
)

TITLE = "Adversarial training: robustness vs defense compute"
NO_TRAINING = (
    "no adversarially trained models in the table\n"
    "(a round-0-only study has no adversarial-training curve)"
)


def plot_adversarial_training(
    table: pd.DataFrame,
    stem: str | Path,
    options: FigureOptions | None = None,
    reference: pd.DataFrame | None = None,
) -> list[Path]:
    """Draw figure type 4 (models attacked with their own training attack); write PNG and PDF."""
    options = options or FigureOptions()
    rows = defense_rows(matched(table), options)
    if rows.empty:
        return style.empty_figure(stem, TITLE, NO_TRAINING)
    family = one_family(rows, "the adversarial-training figure")
    ref = None if reference is None else defense_rows(matched(reference), options)
    layout = [[(*key, "asr"), (*key, "accuracy")] for key in panel_keys(rows)]
    palette = style.size_palette(rows, ref)
    with style.figure_style():
        fig, axes = style.panel_layout(layout)
        for (task, attack, position, kind), ax in axes.items():
            key = (task, attack, position)
            panel = select(rows, key)
            name = style.attack_label(attack, position)
            if kind == "asr":
                draw_defense(ax, panel, palette, "logit_asr", options, select(ref, key))
                style.logit_axis(ax, f"ASR{iteration_note(panel)} (logit scale)")
                ax.set_title(f"{task}\ntrained and attacked: {name}")
            else:
                draw_defense(ax, panel, palette, "clean_accuracy", options, select(ref, key))
                style.percent_axis(ax, "pre-attack accuracy")
                ax.set_title(f"{task}\naccuracy, trained: {name}")
        style.size_legend(fig, palette, style.sizes_in_order(rows, ref), family, ref is not None)
        fig.suptitle(TITLE, fontweight="bold")
        style.caption(fig, [summary_note(options.seed_summary), *drawn_elsewhere(rows)])
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


def draw_defense(
    ax,
    panel: pd.DataFrame,
    palette: dict,
    value: str,
    options: FigureOptions,
    reference: pd.DataFrame | None = None,
) -> None:
    """Per size: ``value`` over seeds at each round, with its band, against defense x; the
    reference table's sizes dashed."""
    for rows, dashed in ((panel, False), (reference, True)):
        if rows is None:
            continue
        for size, by_size in rows.groupby("size", sort=False):
            s = over_seeds(by_size, ["round"], value, options.seed_summary)
            x = by_size.groupby("round")["defense_x"].first().loc[s["round"]].to_numpy()
            order = np.argsort(x, kind="stable")
            style.median_band(
                ax,
                x[order],
                s["centre"].to_numpy()[order],
                s["low"].to_numpy()[order],
                s["high"].to_numpy()[order],
                palette[size],
                reference=dashed,
            )
    style.log_axis(ax, "x")
    ax.set_xlabel(
        "defense compute\n/ pretraining compute"
        if options.defense_axis == "fraction"
        else "defense compute (FLOPs)"
    )
    if value == "logit_asr":
        low, high = ax.get_ylim()
        ax.set_ylim(min(low, float(np.floor(low))), max(high, float(np.ceil(high))))
