"""Figure type 6: offense vs defense, the paper's headline figure (ICML Fig. 1).

y: per-example attack compute needed to reach a target ASR (``metrics.offense_defense``: linear
interpolation of the ASR-per-iteration curve), as a fraction of pretraining compute; x: defense
compute of each adversarial-training round, as a fraction of pretraining (averaged over seeds).
Log–log, with dashed slope-1 guides: a line steeper than the guides means the defender gains
when both sides double their compute.

Per size and round the marker is the median over seeds; seeds that never reach the target count
as needing more than any reached value, so the median is drawn only while most seeds reach
it, and the band spans the seeds that did (with ``seed_summary: mean``, the mean and its
bootstrap interval, drawn only where every seed reached it). Round 0 has no defense compute and
is not drawn. A panel per task × attack × target that has a point; the caption says which
targets were never reached and how many seed-rounds fell short. A reference table's curves
are dashed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from robustness_scaling.analysis.metrics import ATTACK_FRACTION, DEFENSE_FRACTION, offense_defense
from robustness_scaling.figures import style
from robustness_scaling.figures.options import FigureOptions
from robustness_scaling.figures.selection import (
    SeedSummary,
    matched,
    one_family,
    panel_keys,
    seed_interval,
    select,
    summary_note,
)

TITLE = "Offense vs defense: attack compute to reach a target ASR"
NO_TRAINING = (
    "no adversarially trained models in the table\n"
    "(a round-0-only study has no offense–defense curve)"
)


def plot_offense_defense(
    table: pd.DataFrame,
    stem: str | Path,
    options: FigureOptions | None = None,
    reference: pd.DataFrame | None = None,
) -> list[Path]:
    """Draw figure type 6 from the attacks table; write ``stem.png`` and ``stem.pdf``."""
    options = options or FigureOptions()
    trained = matched(table[table["round"] > 0])
    if trained.empty:
        return style.empty_figure(stem, TITLE, NO_TRAINING)
    family = one_family(trained, "the offense-defense figure")
    targets = list(options.offense_targets)
    points = _points(trained, targets, options.seed_summary)
    ref_trained = None if reference is None else matched(reference[reference["round"] > 0])
    ref = None
    if ref_trained is not None and not ref_trained.empty:
        ref = _points(ref_trained, targets, options.seed_summary)
    layout, notes = [], [summary_note(options.seed_summary)]
    for group in panel_keys(trained):
        name = f"{group[0]} · {style.attack_label(*group[1:])}"
        drawn, never = [], []
        for c, target in enumerate(targets):
            panel = _at_target(select(points, group), target)
            (drawn if np.isfinite(panel["centre"]).any() else never).append(c)
            unreached = int(panel["n_unreached"].sum())
            if unreached:
                notes.append(f"{name}: {unreached} seed-rounds never reached {100 * target:g}% ASR")
        layout.append([(*group, c) for c in drawn])
        if never:
            which = ", ".join(f"{100 * targets[c]:g}%" for c in never)
            notes.append(f"{name}: no panel for {which} ASR, not reached by enough seeds")
    if not any(layout):
        return style.empty_figure(stem, TITLE, "no target ASR was reached by enough seeds")
    palette = style.size_palette(trained, ref_trained)
    with style.figure_style():
        fig, axes = style.panel_layout(layout)
        for (*group, c), ax in axes.items():
            task, attack, position = group
            target = targets[c]
            ref_panel = None if ref is None else _at_target(select(ref, group), target)
            _draw(ax, _at_target(select(points, group), target), palette, ref_panel)
            label = style.attack_label(attack, position)
            ax.set_title(f"{task} · {label}\nattack compute to {100 * target:g}% ASR")
        sizes = style.sizes_in_order(trained, ref_trained)
        style.size_legend(fig, palette, sizes, family, ref is not None)
        fig.suptitle(TITLE, fontweight="bold")
        style.caption(fig, notes)
        return style.save_figure(fig, stem)


def _points(trained: pd.DataFrame, targets, how: SeedSummary) -> pd.DataFrame:
    return summarise(offense_defense(trained, targets), how)


def _at_target(points: pd.DataFrame, target: float) -> pd.DataFrame:
    return points[np.isclose(points["target_asr"], target)]


def summarise(per_seed: pd.DataFrame, how: SeedSummary = "median") -> pd.DataFrame:
    """Per size × round × target: mean defense over seeds, and the seed summary of the attack
    compute needed (``centre``, ``low``, ``high``; NaN centre where too few seeds reached the
    target: half for the median, any for the mean), with ``n_unreached``."""
    keys = ["family", "task", "attack", "position", "size", "n_params", "round", "target_asr"]
    rows = []
    for key, group in per_seed.groupby(keys, sort=True):
        needed = group[ATTACK_FRACTION].to_numpy(dtype=float)
        reached = needed[np.isfinite(needed)]
        if how == "median":
            centre = float(np.median(np.where(np.isfinite(needed), needed, np.inf)))
            centre = centre if np.isfinite(centre) else np.nan
            low = reached.min() if len(reached) else np.nan
            high = reached.max() if len(reached) else np.nan
        elif len(reached) == len(needed):
            centre, low, high = seed_interval(needed, how)
        else:
            centre = low = high = np.nan
        defense = float(group[DEFENSE_FRACTION].mean())
        rows.append((*key, defense, centre, low, high, int(len(needed) - len(reached))))
    columns = [*keys, "defense", "centre", "low", "high", "n_unreached"]
    return pd.DataFrame(rows, columns=columns)


def _draw(ax, panel: pd.DataFrame, palette: dict, reference: pd.DataFrame | None) -> None:
    for points, dashed in ((panel, False), (reference, True)):
        if points is None:
            continue
        points = points[np.isfinite(points["centre"]) & (points["defense"] > 0)]
        for size, by_size in points.groupby("size", sort=False):
            s = by_size.sort_values("defense")
            style.median_band(
                ax,
                s["defense"].to_numpy(),
                s["centre"],
                s["low"],
                s["high"],
                palette[size],
                reference=dashed,
            )
    style.log_axis(ax, "x")
    style.log_axis(ax, "y")
    x_low, x_high = ax.get_xlim()
    y_low, y_high = ax.get_ylim()
    ax.set_xlim(x_low / 1.5, x_high * 1.5)
    ax.set_ylim(y_low / 1.5, y_high * 1.5)
    style.slope_one_guides(ax)
    ax.set_xlabel("defense compute\n/ pretraining compute")
    ax.set_ylabel("attack compute per example\n/ pretraining compute")
