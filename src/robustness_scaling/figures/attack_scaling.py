"""Figure type 2: attack scaling, ASR against attack compute, one line per model size.

x is the cumulative attack compute (total over the attacked examples, averaged over seeds) as a
fraction of the model's pretraining compute, on a log axis; y is the Laplace-smoothed ASR on a
logit10 axis (docs/method.md "Metrics"), summarised over seeds (``FigureOptions.seed_summary``).
On these axes the
paper's curves are close to straight lines, whose slopes figure type 3 compares across sizes.
A panel per task × evaluation attack that has data; a reference table's curves are drawn dashed
on the panels this study has.

``plot_attack_scaling`` shows the finetuned models; ``plot_attack_scaling_adversarial`` shows
adversarially trained ones, for each size at the first round whose defense compute reaches each
budget of ``FigureOptions.defense_budgets``, and at its final round.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from robustness_scaling.analysis.metrics import (
    ATTACK_FRACTION,
    DEFENSE_FRACTION,
    smoothed_logit_asr,
    with_compute_fractions,
)
from robustness_scaling.figures import style
from robustness_scaling.figures.options import FigureOptions
from robustness_scaling.figures.selection import (
    finetuned,
    matched,
    one_family,
    over_seeds,
    panel_keys,
    select,
    summary_note,
    tasks_in_order,
)

TITLE = "Attack scaling: ASR vs attack compute"
TITLE_ADVERSARIAL = "Attack scaling of adversarially trained models"
X_LABEL = "attack compute\n/ pretraining compute"  # on one line it reaches the next panel
NO_COMPUTE = "no attack iteration with attack compute > 0 (only clean, iteration-0 rows)"


def plot_attack_scaling(
    table: pd.DataFrame,
    stem: str | Path,
    options: FigureOptions | None = None,
    reference: pd.DataFrame | None = None,
) -> list[Path]:
    """Draw figure type 2 for finetuned (round-0) models; write ``stem.png`` and ``stem.pdf``."""
    options = options or FigureOptions()
    rows = finetuned(table)
    if rows.empty:
        return style.empty_figure(stem, TITLE, "no round-0 (finetuned) rows in the table")
    family = one_family(rows, "the attack-scaling figure")
    rows = _prepare(rows)
    if rows.empty:
        return style.empty_figure(stem, TITLE, NO_COMPUTE)
    ref = None if reference is None else _prepare(finetuned(reference))
    layout = [
        [(task, attack, position) for _, attack, position in panel_keys(rows[rows["task"] == task])]
        for task in tasks_in_order(rows)
    ]
    palette = style.size_palette(rows, ref)
    with style.figure_style():
        fig, axes = style.panel_layout(layout)
        for key, ax in axes.items():
            draw_scaling(ax, select(rows, key), palette, options, select(ref, key))
            task, attack, position = key
            ax.set_title(f"{task}\n{style.attack_label(attack, position)}")
        style.size_legend(fig, palette, style.sizes_in_order(rows, ref), family, ref is not None)
        fig.suptitle(TITLE, fontweight="bold")
        style.caption(fig, [summary_note(options.seed_summary)])
        return style.save_figure(fig, stem)


def plot_attack_scaling_adversarial(
    table: pd.DataFrame,
    stem: str | Path,
    options: FigureOptions | None = None,
    reference: pd.DataFrame | None = None,
) -> list[Path]:
    """Draw figure type 2 for adversarially trained models at fixed defense budgets."""
    options = options or FigureOptions()
    rows = matched(table[table["round"] > 0])
    if rows.empty:
        return style.empty_figure(
            stem,
            TITLE_ADVERSARIAL,
            "no adversarially trained models evaluated with their training attack\n"
            "(the table has round 0 only, or no attack equal to its `training_attack`)",
        )
    family = one_family(rows, "the adversarial attack-scaling figure")
    rows = _prepare(rows)
    if rows.empty:
        return style.empty_figure(stem, TITLE_ADVERSARIAL, NO_COMPUTE)
    ref = None if reference is None else _prepare(matched(reference[reference["round"] > 0]))
    columns = [(f"defense ≥ {b:g} of pretraining", b) for b in options.defense_budgets]
    columns.append(("final round", None))
    layout, unreached = [], []
    for group in panel_keys(rows):
        panels = [
            (*group, c)
            for c, (_, budget) in enumerate(columns)
            if not _at_budget(select(rows, group), budget).empty
        ]
        layout.append(panels)
        missing = [title for c, (title, _) in enumerate(columns) if (*group, c) not in panels]
        if missing:
            task, attack, position = group
            unreached.append(
                f"{task} · {style.attack_label(attack, position)}: no size reaches "
                + "; ".join(missing)
            )
    palette = style.size_palette(rows, ref)
    with style.figure_style():
        fig, axes = style.panel_layout(layout)
        for (task, attack, position, c), ax in axes.items():
            title, budget = columns[c]
            group = (task, attack, position)
            panel = _at_budget(select(rows, group), budget)
            ref_panel = None if ref is None else _at_budget(select(ref, group), budget)
            draw_scaling(ax, panel, palette, options, ref_panel)
            ax.set_title(f"{task} · {style.attack_label(attack, position)}\n{title}")
        style.size_legend(fig, palette, style.sizes_in_order(rows, ref), family, ref is not None)
        fig.suptitle(TITLE_ADVERSARIAL, fontweight="bold")
        style.caption(fig, [summary_note(options.seed_summary), *unreached])
        return style.save_figure(fig, stem)


def _prepare(rows: pd.DataFrame) -> pd.DataFrame:
    rows = with_compute_fractions(rows)
    rows["logit_asr"] = smoothed_logit_asr(rows["asr"], rows["n_val"])
    return rows[rows[ATTACK_FRACTION] > 0]


def _at_budget(group: pd.DataFrame, budget: float | None) -> pd.DataFrame:
    """Each size's rows at its first round reaching ``budget``, or at its last round (None)."""
    chosen = []
    for _, by_size in group.groupby("size"):
        rounds = by_size.groupby("round")[DEFENSE_FRACTION].first().sort_index()
        if budget is None:
            chosen.append(by_size[by_size["round"] == rounds.index.max()])
            continue
        reached = rounds[rounds >= budget]
        if not reached.empty:
            chosen.append(by_size[by_size["round"] == reached.index.min()])
    return pd.concat(chosen) if chosen else group.iloc[:0]


def draw_scaling(
    ax,
    panel: pd.DataFrame,
    palette: dict,
    options: FigureOptions,
    reference: pd.DataFrame | None = None,
) -> None:
    """One seed-summary line (with its band) per size, on log-x, logit-y axes; the reference
    table's sizes dashed beside them."""
    for rows, dashed in ((panel, False), (reference, True)):
        if rows is None:
            continue
        for size, by_size in rows.groupby("size", sort=False):
            s = over_seeds(by_size, ["iteration"], "logit_asr", options.seed_summary)
            x = by_size.groupby("iteration")[ATTACK_FRACTION].first().loc[s["iteration"]]
            order = np.argsort(x.to_numpy(), kind="stable")
            style.median_band(
                ax,
                x.to_numpy()[order],
                s["centre"].to_numpy()[order],
                s["low"].to_numpy()[order],
                s["high"].to_numpy()[order],
                palette[size],
                reference=dashed,
            )
    style.log_axis(ax, "x")
    ax.set_xlabel(X_LABEL)
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, float(np.floor(low))), max(high, float(np.ceil(high))))
    style.logit_axis(ax)
