"""Figure type 5: transfer, adversarially trained models attacked with another attack.

Same axes as figure type 4 (smoothed logit10 ASR at a fixed iteration against defense compute,
per size, summarised over seeds), one panel per task × training attack → evaluation attack
pair that has data: does robustness bought against one attack (e.g. suffix GCG) carry over to
another (GCG at a 90% infix or prefix, random tokens, BEAST)?
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from robustness_scaling.figures import style
from robustness_scaling.figures.adversarial_training import defense_rows, draw_defense
from robustness_scaling.figures.options import FigureOptions
from robustness_scaling.figures.selection import (
    drawn_elsewhere,
    iteration_note,
    one_family,
    panel_keys,
    select,
    summary_note,
    tasks_in_order,
    transferred,
)

TITLE = "Transfer: adversarial training against one attack, evaluated with another"
PAIR = ("task", "training_attack", "attack", "position")


def plot_transfer(
    table: pd.DataFrame,
    stem: str | Path,
    options: FigureOptions | None = None,
    reference: pd.DataFrame | None = None,
) -> list[Path]:
    """Draw figure type 5 from the attacks table; write ``stem.png`` and ``stem.pdf``."""
    options = options or FigureOptions()
    rows = defense_rows(transferred(table), options)
    if rows.empty:
        return style.empty_figure(
            stem,
            TITLE,
            "no adversarially trained model evaluated with an attack\n"
            "other than its `training_attack` in the table",
        )
    family = one_family(rows, "the transfer figure")
    ref = None if reference is None else defense_rows(transferred(reference), options)
    layout = [panel_keys(rows[rows["task"] == task], PAIR) for task in tasks_in_order(rows)]
    palette = style.size_palette(rows, ref)
    with style.figure_style():
        fig, axes = style.panel_layout(layout)
        for key, ax in axes.items():
            task, trained_with, attack, position = key
            panel = select(rows, key, PAIR)
            draw_defense(ax, panel, palette, "logit_asr", options, select(ref, key, PAIR))
            style.logit_axis(ax, f"ASR{iteration_note(panel)} (logit scale)")
            ax.set_title(f"{task}\ntrained {trained_with} → {style.attack_label(attack, position)}")
        style.size_legend(fig, palette, style.sizes_in_order(rows, ref), family, ref is not None)
        fig.suptitle(TITLE, fontweight="bold")
        style.caption(fig, [summary_note(options.seed_summary), *drawn_elsewhere(rows)])
        return style.save_figure(fig, stem)
