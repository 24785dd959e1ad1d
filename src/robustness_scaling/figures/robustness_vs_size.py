"""Figure type 1: finetuned models' robustness against model size (docs/method.md "Figures").

Top row of each task: ASR at a fixed attack iteration against parameter count, summarised over
seeds, one panel per evaluation attack that has data. Below it: accuracy before and after the
attack, since a larger model may look more robust merely by being more accurate. A reference
table's (the original study's) values are drawn dashed on the same panels.
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
    one_family,
    over_seeds,
    panel_keys,
    select,
    summary_note,
    tasks_in_order,
)

TITLE = "Robustness of finetuned models vs size"
ASR_COLOR = "#2a3f8f"


def plot_robustness_vs_size(
    table: pd.DataFrame,
    stem: str | Path,
    options: FigureOptions | None = None,
    reference: pd.DataFrame | None = None,
) -> list[Path]:
    """Draw figure type 1 from the attacks table and write ``stem.png`` and ``stem.pdf``."""
    options = options or FigureOptions()
    rows = finetuned(table)
    if rows.empty:
        return style.empty_figure(stem, TITLE, "no round-0 (finetuned) rows in the table")
    family = one_family(rows, "the robustness-vs-size figure")
    rows = _prepare(rows, options)
    ref = None if reference is None else _prepare(finetuned(reference), options)
    layout = []
    for task in tasks_in_order(rows):
        panels = panel_keys(rows[rows["task"] == task])
        layout += [[(*key, "asr") for key in panels], [(*key, "accuracy") for key in panels]]
    sizes = style.sizes_in_order(rows, ref)
    with style.figure_style():
        fig, axes = style.panel_layout(layout)
        for (task, attack, position, kind), ax in axes.items():
            key = (task, attack, position)
            panel, ref_panel = select(rows, key), select(ref, key)
            name = style.attack_label(attack, position)
            if kind == "asr":
                _draw_asr(ax, panel, ref_panel, sizes, options)
                ax.set_title(f"{task}\n{name}: ASR{iteration_note(panel)}")
            else:
                _draw_accuracy(ax, panel, ref_panel, sizes, options)
                ax.set_title(f"{task}\n{name}: accuracy")
        handles = [
            Line2D([], [], color=color, marker="o", lw=2, label=f"{name} accuracy")
            for name, color in style.ACCURACY_COLORS.items()
        ]
        if ref is not None:
            handles += style.whose_lines()
        fig.legend(handles=handles, title=family, loc="outside right center")
        fig.suptitle(TITLE, fontweight="bold")
        style.caption(fig, [summary_note(options.seed_summary), *drawn_elsewhere(rows)])
        return style.save_figure(fig, stem)


def _prepare(rows: pd.DataFrame, options: FigureOptions) -> pd.DataFrame:
    rows = at_iteration(rows, options.size_iteration).copy()
    rows["post_attack_accuracy"] = rows["clean_accuracy"] * (1.0 - rows["asr"])
    return rows


def _draw_asr(ax, panel, reference, sizes, options: FigureOptions) -> None:
    for rows, dashed in ((panel, False), (reference, True)):
        if rows is not None and not rows.empty:
            s = over_seeds(rows, ["n_params"], "asr", options.seed_summary)
            style.median_band(
                ax, s["n_params"], s["centre"], s["low"], s["high"], ASR_COLOR, reference=dashed
            )
    style.size_axis(ax, sizes)
    ax.set_ylim(-0.02, 1.02)
    style.percent_axis(ax, "attack success rate")


def _draw_accuracy(ax, panel, reference, sizes, options: FigureOptions) -> None:
    for rows, dashed in ((panel, False), (reference, True)):
        if rows is None or rows.empty:
            continue
        for name, column in (
            ("pre-attack", "clean_accuracy"),
            ("post-attack", "post_attack_accuracy"),
        ):
            s = over_seeds(rows, ["n_params"], column, options.seed_summary)
            color = style.ACCURACY_COLORS[name]
            style.median_band(
                ax, s["n_params"], s["centre"], s["low"], s["high"], color, reference=dashed
            )
    style.size_axis(ax, sizes)
    ax.set_ylim(-0.02, 1.02)
    style.percent_axis(ax, "accuracy")
