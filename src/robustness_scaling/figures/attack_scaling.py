"""Figure type 2: attack scaling, ASR against attack compute, one line per model size.

x is the cumulative attack compute (total over the attacked examples, averaged over seeds) as a
fraction of the model's pretraining compute, on a log axis; y is the Laplace-smoothed ASR on a
logit10 axis (docs/method.md "Metrics"), median and min–max over seeds. On these axes the
paper's curves are close to straight lines, whose slopes figure type 3 compares across sizes.

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
from robustness_scaling.figures.selection import finetuned, matched, panel_rows, several_families

TITLE = "Attack scaling: ASR vs attack compute"
TITLE_ADVERSARIAL = "Attack scaling of adversarially trained models"
X_LABEL = "attack compute\n/ pretraining compute"  # on one line it reaches the next panel
NO_COMPUTE = "no attack iteration with attack compute > 0 (only clean, iteration-0 rows)"


def plot_attack_scaling(
    table: pd.DataFrame, stem: str | Path, options: FigureOptions | None = None
) -> list[Path]:
    """Draw figure type 2 for finetuned (round-0) models; write ``stem.png`` and ``stem.pdf``."""
    rows = finetuned(table)
    if rows.empty:
        return style.empty_figure(stem, TITLE, "no round-0 (finetuned) rows in the table")
    rows = _prepare(rows)
    if rows.empty:
        return style.empty_figure(stem, TITLE, NO_COMPUTE)
    attacks = sorted(set(zip(rows["attack"], rows["position"], strict=True)))
    tasks = panel_rows(rows)
    palette = style.size_palette(rows)
    with style.figure_style():
        fig, axes = style.panel_grid(len(tasks), len(attacks))
        for r, (family, task) in enumerate(tasks):
            label = style.row_label(family, task, several_families(rows))
            for c, (attack, position) in enumerate(attacks):
                panel = rows[
                    (rows["family"] == family)
                    & (rows["task"] == task)
                    & (rows["attack"] == attack)
                    & (rows["position"] == position)
                ]
                name = style.attack_label(attack, position)
                ax = axes[r, c]
                if panel.empty:
                    style.empty_panel(ax, f"{label}: no {name} evaluation")
                    continue
                draw_scaling(ax, panel, palette)
                ax.set_title(f"{label}\n{name}")
        style.size_legend(fig, palette, style.sizes_in_order(rows))
        fig.suptitle(TITLE, fontweight="bold")
        return style.save_figure(fig, stem)


def plot_attack_scaling_adversarial(
    table: pd.DataFrame, stem: str | Path, options: FigureOptions | None = None
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
    rows = _prepare(rows)
    if rows.empty:
        return style.empty_figure(stem, TITLE_ADVERSARIAL, NO_COMPUTE)
    columns = [(f"defense ≥ {b:g} of pretraining", b) for b in options.defense_budgets]
    columns.append(("final round", None))
    groups = sorted(
        {
            (f, t, a, p)
            for f, t, a, p in rows[["family", "task", "attack", "position"]].itertuples(index=False)
        }
    )
    palette = style.size_palette(rows)
    with style.figure_style():
        fig, axes = style.panel_grid(len(groups), len(columns))
        for r, (family, task, attack, position) in enumerate(groups):
            label = style.row_label(family, task, several_families(rows))
            name = style.attack_label(attack, position)
            group = rows[
                (rows["family"] == family)
                & (rows["task"] == task)
                & (rows["attack"] == attack)
                & (rows["position"] == position)
            ]
            for c, (title, budget) in enumerate(columns):
                ax = axes[r, c]
                panel = _at_budget(group, budget)
                if panel.empty:
                    style.empty_panel(ax, f"no size reaches\n{title}")
                    ax.set_title(f"{label} · {name}\n{title}")
                    continue
                draw_scaling(ax, panel, palette)
                ax.set_title(f"{label} · {name}\n{title}")
        style.size_legend(fig, palette, style.sizes_in_order(rows))
        fig.suptitle(TITLE_ADVERSARIAL, fontweight="bold")
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


def draw_scaling(ax, panel: pd.DataFrame, palette: dict) -> None:
    """One median line with a min–max band per size, on log-x, logit-y axes."""
    for size, by_size in panel.groupby("size", sort=False):
        s = (
            by_size.groupby("iteration")
            .agg(
                x=(ATTACK_FRACTION, "first"),
                median=("logit_asr", "median"),
                low=("logit_asr", "min"),
                high=("logit_asr", "max"),
            )
            .sort_values("x")
        )
        style.median_band(ax, s["x"].to_numpy(), s["median"], s["low"], s["high"], palette[size])
    style.log_axis(ax, "x")
    ax.set_xlabel(X_LABEL)
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, float(np.floor(low))), max(high, float(np.ceil(high))))
    style.logit_axis(ax)
