"""Figure type 5: transfer, adversarially trained models attacked with another attack.

Same axes as figure type 4 (smoothed logit10 ASR at a fixed iteration against defense compute,
per size, median and min–max over seeds), one panel per training attack → evaluation attack
pair: does robustness bought against one attack (e.g. suffix GCG) carry over to another (GCG at
a 90% infix or prefix, random tokens, BEAST)?
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
    panel_rows,
    several_families,
    transferred,
)

TITLE = "Transfer: adversarial training against one attack, evaluated with another"


def plot_transfer(
    table: pd.DataFrame, stem: str | Path, options: FigureOptions | None = None
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
    pairs = sorted(set(zip(rows["training_attack"], rows["attack"], rows["position"], strict=True)))
    tasks = panel_rows(rows)
    palette = style.size_palette(rows)
    with style.figure_style():
        fig, axes = style.panel_grid(len(tasks), len(pairs))
        for r, (family, task) in enumerate(tasks):
            label = style.row_label(family, task, several_families(rows))
            for c, (trained_with, attack, position) in enumerate(pairs):
                ax = axes[r, c]
                name = style.attack_label(attack, position)
                panel = rows[
                    (rows["family"] == family)
                    & (rows["task"] == task)
                    & (rows["training_attack"] == trained_with)
                    & (rows["attack"] == attack)
                    & (rows["position"] == position)
                ]
                if panel.empty:
                    style.empty_panel(ax, f"{label}: no {trained_with} → {name} evaluation")
                    continue
                draw_defense(ax, panel, palette, "logit_asr", options)
                style.logit_axis(ax, f"ASR{iteration_note(panel)} (logit scale)")
                ax.set_title(f"{label}\ntrained {trained_with} → {name}")
        style.size_legend(fig, palette, style.sizes_in_order(rows))
        fig.suptitle(TITLE, fontweight="bold")
        style.caption(fig, drawn_elsewhere(rows))
        return style.save_figure(fig, stem)
