"""The study's figures (docs/method.md "Figures"), each drawn from the attacks table alone.

Each ``plot_*`` function takes one model family's rows of the table
(``robustness_scaling.analysis.tables``), a path stem, ``FigureOptions`` and optionally a
reference table of the same family (the original study's results, drawn dashed on the same
axes), writes ``stem.png`` and ``stem.pdf``, and returns their paths. Each family gets its own
figures: its own size axis, palette and legend. Panels exist only where there is data; a figure
whose data the table lacks altogether (a finetuning-only study has no adversarial-training
curve) is still written, as one annotated panel saying what is missing, so a workflow can
always declare every figure as an output. ``make_all_figures`` draws them all, per family.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from robustness_scaling.analysis.tables import validate_table
from robustness_scaling.figures import style
from robustness_scaling.figures.adversarial_training import plot_adversarial_training
from robustness_scaling.figures.attack_scaling import (
    plot_attack_scaling,
    plot_attack_scaling_adversarial,
)
from robustness_scaling.figures.offense_defense import plot_offense_defense
from robustness_scaling.figures.options import FigureOptions
from robustness_scaling.figures.robustness_vs_size import plot_robustness_vs_size
from robustness_scaling.figures.selection import finetuned, matched, transferred
from robustness_scaling.figures.slopes import plot_slopes_vs_size
from robustness_scaling.figures.style import FORMATS, size_label
from robustness_scaling.figures.transfer import plot_transfer

FigureFunction = Callable[
    [pd.DataFrame, str | Path, FigureOptions | None, pd.DataFrame | None], list[Path]
]

FIGURES: dict[str, FigureFunction] = {
    "robustness_vs_size": plot_robustness_vs_size,
    "attack_scaling": plot_attack_scaling,
    "attack_scaling_adversarial": plot_attack_scaling_adversarial,
    "slopes_vs_size": plot_slopes_vs_size,
    "adversarial_training": plot_adversarial_training,
    "transfer": plot_transfer,
    "offense_defense": plot_offense_defense,
}
"""Figure name → function; ``make_all_figures`` writes ``out_dir/{family}/{name}.png`` and
``.pdf``."""


def figure_paths(out_dir: str | Path, families: Sequence[str]) -> dict[str, list[Path]]:
    """The files ``make_all_figures`` will write for ``families``, known before drawing (for
    workflow outputs): name → the PNG and PDF of each family in turn."""
    return {
        name: [Path(out_dir) / family / f"{name}.{fmt}" for family in families for fmt in FORMATS]
        for name in FIGURES
    }


def iterations_read(table: pd.DataFrame, options: FigureOptions) -> dict[str, str]:
    """Which attack iterations each figure reads from ``table`` under ``options``, per task and
    attack, as a plotting job logs it: a table drawn with another study's options (the default
    study's @10 where the paper's adversarial-training figures read @128) shows there."""

    def asked(rows: pd.DataFrame, lookup) -> str:
        pairs = sorted(set(zip(rows["task"], rows["attack"], strict=True)))
        if not pairs:
            return "no rows to read"
        return ", ".join(
            f"{task}/{attack} @{'last' if (it := lookup(task, attack)) is None else it}"
            for task, attack in pairs
        )

    trained = table[table["round"] > 0]
    budgets = ", ".join(f"{b:g}" for b in options.defense_budgets)
    targets = ", ".join(f"{t:g}" for t in options.offense_targets)
    return {
        "robustness_vs_size": asked(finetuned(table), options.size_iteration),
        "attack_scaling": "every iteration of the finetuned models' curves",
        "attack_scaling_adversarial": (
            f"every iteration, at defense compute {budgets} of pretraining and the final round"
        ),
        "slopes_vs_size": "every iteration with 0 < ASR < 1 (the slope fits)",
        "adversarial_training": asked(matched(trained), options.defense_iteration),
        "transfer": asked(transferred(trained), options.defense_iteration),
        "offense_defense": f"every iteration, for the attack compute reaching ASR {targets}",
    }


def make_all_figures(
    table: pd.DataFrame,
    out_dir: str | Path,
    options: FigureOptions | None = None,
    families: Sequence[str] | None = None,
    reference: pd.DataFrame | None = None,
) -> dict[str, list[Path]]:
    """Validate the tables, draw every figure of each family into ``out_dir/{family}/``;
    return name → written paths (as :func:`figure_paths` lists them).

    ``families`` defaults to the table's. A family without rows gets figures that say so; rows
    of a family not asked for are an error, never dropped. ``reference`` rows of a drawn family
    are overlaid dashed, on the panels the table has.
    """
    table = validate_table(table)
    reference = None if reference is None else validate_table(reference)
    options = options or FigureOptions()
    families = sorted(table["family"].unique()) if families is None else list(families)
    extra = sorted(set(table["family"]) - set(families))
    if extra:
        raise ValueError(
            f"the table holds rows of {', '.join(extra)}, not among the families to draw "
            f"({', '.join(families)}): name every family of the table (the workflow's "
            "`figures.families`)"
        )
    written: dict[str, list[Path]] = {name: [] for name in FIGURES}
    for family in families:
        own = table[table["family"] == family]
        ref = None if reference is None else reference[reference["family"] == family]
        ref = None if ref is None or ref.empty else ref
        for name, plot in FIGURES.items():
            stem = Path(out_dir) / family / name
            if own.empty:
                title = name.replace("_", " ").capitalize()
                written[name] += style.empty_figure(
                    stem, title, f"no rows of {family} in the table"
                )
            else:
                written[name] += plot(own, stem, options, ref)
    return written


__all__ = [
    "FIGURES",
    "FigureOptions",
    "figure_paths",
    "iterations_read",
    "make_all_figures",
    "plot_adversarial_training",
    "plot_attack_scaling",
    "plot_attack_scaling_adversarial",
    "plot_offense_defense",
    "plot_robustness_vs_size",
    "plot_slopes_vs_size",
    "plot_transfer",
    "size_label",
]
