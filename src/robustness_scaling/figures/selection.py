"""Which rows of the attacks table a figure shows, and how seeds are summarised.

Kept apart from drawing so that each figure module reads as: select, summarise, draw.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from robustness_scaling.analysis.tables import CURVE_COLUMNS

PANEL_ROW = ("family", "task")


def finetuned(table: pd.DataFrame) -> pd.DataFrame:
    """Round-0 rows, one whole evaluation per finetuned model and attack.

    A finetuned model may be evaluated more than once under one attack name: by the finetuned
    study itself (``training_attack`` empty; the paper's 10 GCG iterations on 200 examples)
    and as round 0 of adversarial-training chains (``training_attack`` set; 128 on 500 in the
    paper's tables). A curve is one evaluation and is never spliced from two: this keeps the
    finetuned study's own evaluation where there is one, else the chain whose
    ``training_attack`` sorts first.
    """
    rows = table[table["round"] == 0]
    model = [c for c in CURVE_COLUMNS if c != "training_attack"]
    evaluations = rows[[*model, "training_attack"]].drop_duplicates()
    preference = evaluations.assign(_chain=evaluations["training_attack"] != "")
    chosen = preference.sort_values(["_chain", "training_attack"]).drop_duplicates(model)
    keys = [*model, "training_attack"]
    keep = pd.MultiIndex.from_frame(rows[keys]).isin(pd.MultiIndex.from_frame(chosen[keys]))
    return rows[keep]


def matched(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of adversarially trained models evaluated with their own training attack."""
    return table[(table["training_attack"] != "") & (table["attack"] == table["training_attack"])]


def transferred(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of adversarially trained models evaluated with an attack other than their own."""
    return table[(table["training_attack"] != "") & (table["attack"] != table["training_attack"])]


def at_iteration(
    table: pd.DataFrame, iteration_for: Callable[[str, str], int | None]
) -> pd.DataFrame:
    """One row per curve: the latest iteration not past the one asked for that task and attack,
    else (a curve recorded only from a later iteration on) its first one. No curve disappears:
    the ``asked_iteration`` column (NaN: the last) lets a figure say which curves are drawn
    elsewhere than asked (:func:`drawn_elsewhere`), and panel titles report what was used.
    """
    if table.empty:
        return table.assign(asked_iteration=pd.Series(dtype=float))
    wanted = [
        iteration_for(task, attack)
        for task, attack in zip(table["task"], table["attack"], strict=True)
    ]
    asked = pd.Series([np.nan if w is None else float(w) for w in wanted], index=table.index)
    within = asked.isna() | (table["iteration"] <= asked)
    curves = [table[c] for c in CURVE_COLUMNS]
    latest = table["iteration"].where(within).groupby(curves, dropna=False).transform("max")
    first = table["iteration"].where(~within).groupby(curves, dropna=False).transform("min")
    chosen = latest.fillna(first)
    return table[table["iteration"] == chosen].assign(asked_iteration=asked)


def drawn_elsewhere(rows: pd.DataFrame) -> list[str]:
    """One caption line per group of curves drawn at another iteration than asked: short ones
    at their last iteration, late-starting ones at their first (rows of :func:`at_iteration`)."""
    asked = rows["asked_iteration"]
    off = rows[asked.notna() & (rows["iteration"] != asked)]
    lines = []
    keys = ["family", "task", "attack", "position", "iteration", "asked_iteration"]
    for (family, task, attack, position, used, wanted), group in off.groupby(keys, sort=True):
        curves = len(group.drop_duplicates(list(CURVE_COLUMNS)))
        where = (
            "their last iteration: they stop short of"
            if used < wanted
            else "their first iteration: none is recorded at or before"
        )
        noun = "curve" if curves == 1 else "curves"
        lines.append(
            f"{family} · {task} · {attack} ({position}): {curves} {noun} at @{used:g}, "
            f"{where} the asked @{wanted:g}"
        )
    return lines


def iteration_note(rows: pd.DataFrame) -> str:
    """``@10`` when every curve in a panel uses iteration 10; ``@2–10`` when they differ."""
    used = sorted(set(rows["iteration"].astype(int)))
    if not used:
        return ""
    return f"@{used[0]}" if len(used) == 1 else f"@{used[0]}–{used[-1]}"


def over_seeds(rows: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Median, min and max of ``value`` over seeds for each ``by`` group (sorted by ``by``)."""
    summary = rows.groupby(by, sort=True)[value].agg(["median", "min", "max"]).reset_index()
    return summary.rename(columns={"min": "low", "max": "high"})


def panel_rows(table: pd.DataFrame) -> list[tuple[str, str]]:
    """The (family, task) pairs of a table, one figure row each, in a stable order."""
    return sorted({(str(f), str(t)) for f, t in zip(table["family"], table["task"], strict=True)})


def several_families(table: pd.DataFrame) -> bool:
    return table["family"].nunique() > 1
