"""Figure type 6: offense vs defense, the paper's headline figure (ICML Fig. 1).

y: per-example attack compute needed to reach a target ASR (``metrics.offense_defense``: linear
interpolation of the ASR-per-iteration curve), as a fraction of pretraining compute; x: defense
compute of each adversarial-training round, as a fraction of pretraining (averaged over seeds).
Log–log, with dashed slope-1 guides: a line steeper than the guides means the defender gains
when both sides double their compute.

Per size and round the marker is the median over seeds; seeds that never reach the target count
as needing more than any reached value, so the median is drawn only while most seeds reach
it, and the band spans the seeds that did. Round 0 has no defense compute and is not drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from robustness_scaling.analysis.metrics import ATTACK_FRACTION, DEFENSE_FRACTION, offense_defense
from robustness_scaling.figures import style
from robustness_scaling.figures.options import FigureOptions
from robustness_scaling.figures.selection import matched, several_families

TITLE = "Offense vs defense: attack compute to reach a target ASR"
NO_TRAINING = (
    "no adversarially trained models in the table\n"
    "(a round-0-only study has no offense–defense curve)"
)


def plot_offense_defense(
    table: pd.DataFrame, stem: str | Path, options: FigureOptions | None = None
) -> list[Path]:
    """Draw figure type 6 from the attacks table; write ``stem.png`` and ``stem.pdf``."""
    options = options or FigureOptions()
    trained = matched(table[table["round"] > 0])
    if trained.empty:
        return style.empty_figure(stem, TITLE, NO_TRAINING)
    points = summarise(offense_defense(trained, options.offense_targets))
    groups = sorted(set(trained[["family", "task", "attack", "position"]].itertuples(index=False)))
    targets = list(options.offense_targets)
    palette = style.size_palette(trained)
    with style.figure_style():
        fig, axes = style.panel_grid(len(groups), len(targets))
        for r, (family, task, attack, position) in enumerate(groups):
            label = style.row_label(family, task, several_families(trained))
            name = style.attack_label(attack, position)
            for c, target in enumerate(targets):
                ax = axes[r, c]
                panel = points[
                    (points["family"] == family)
                    & (points["task"] == task)
                    & (points["attack"] == attack)
                    & (points["position"] == position)
                    & np.isclose(points["target_asr"], target)
                ]
                title = f"{label} · {name}\nattack compute to {100 * target:g}% ASR"
                ax.set_title(title)
                drawn = panel[np.isfinite(panel["median"])]
                if drawn.empty:
                    style.empty_panel(ax, f"{100 * target:g}% ASR never reached\nby most seeds")
                    continue
                _draw(ax, drawn, palette)
                unreached = int(panel["n_unreached"].sum())
                if unreached:
                    ax.text(
                        0.98,
                        0.03,
                        f"{unreached} seed-rounds never reached it",
                        transform=ax.transAxes,
                        ha="right",
                        fontsize=8,
                        color="0.35",
                    )
        style.size_legend(fig, palette, style.sizes_in_order(trained))
        fig.suptitle(TITLE, fontweight="bold")
        return style.save_figure(fig, stem)


def summarise(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Per size × round × target: mean defense over seeds, median and range of attack compute."""
    keys = ["family", "task", "attack", "position", "size", "n_params", "round", "target_asr"]
    rows = []
    for key, group in per_seed.groupby(keys, sort=True):
        needed = group[ATTACK_FRACTION].to_numpy(dtype=float)
        reached = needed[np.isfinite(needed)]
        median = float(np.median(np.where(np.isfinite(needed), needed, np.inf)))
        rows.append(
            (
                *key,
                float(group[DEFENSE_FRACTION].mean()),
                median if np.isfinite(median) else np.nan,
                reached.min() if len(reached) else np.nan,
                reached.max() if len(reached) else np.nan,
                int((~np.isfinite(needed)).sum()),
            )
        )
    columns = [*keys, "defense", "median", "low", "high", "n_unreached"]
    return pd.DataFrame(rows, columns=columns)


def _draw(ax, panel: pd.DataFrame, palette: dict) -> None:
    for size, by_size in panel.groupby("size", sort=False):
        s = by_size[by_size["defense"] > 0].sort_values("defense")
        style.median_band(
            ax, s["defense"].to_numpy(), s["median"], s["low"], s["high"], palette[size]
        )
    style.log_axis(ax, "x")
    style.log_axis(ax, "y")
    x_low, x_high = ax.get_xlim()
    y_low, y_high = ax.get_ylim()
    ax.set_xlim(x_low / 1.5, x_high * 1.5)
    ax.set_ylim(y_low / 1.5, y_high * 1.5)
    style.slope_one_guides(ax)
    ax.set_xlabel("defense compute / pretraining compute")
    ax.set_ylabel("attack compute per example\n/ pretraining compute")
