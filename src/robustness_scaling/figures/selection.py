"""Which rows of the attacks table a figure shows, and how seeds are summarised.

Kept apart from drawing so that each figure module reads as: select, summarise, draw.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from robustness_scaling.tables import CURVE_COLUMNS

PANEL_ROW = ("family", "task")


def finetuned(table: pd.DataFrame) -> pd.DataFrame:
    """Round-0 rows, once each.

    In a study with several training attacks, the finetuned model's evaluation may be recorded
    once per training run (identical rows differing only in ``training_attack``); keep one.
    """
    rows = table[table["round"] == 0].sort_values("training_attack")
    keys = [c for c in (*CURVE_COLUMNS, "iteration") if c != "training_attack"]
    return rows.drop_duplicates(keys)


def matched(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of adversarially trained models evaluated with their own training attack."""
    return table[(table["training_attack"] != "") & (table["attack"] == table["training_attack"])]


def transferred(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of adversarially trained models evaluated with an attack other than their own."""
    return table[(table["training_attack"] != "") & (table["attack"] != table["training_attack"])]


def at_iteration(
    table: pd.DataFrame, iteration_for: Callable[[str, str], int | None]
) -> pd.DataFrame:
    """One row per curve: the latest iteration not past the one asked for that task and attack.

    A curve that stops early (a smaller budget than the paper's) contributes its last iteration
    rather than disappearing; the figure's panel titles report what was used.
    """
    if table.empty:
        return table
    wanted = [
        iteration_for(task, attack)
        for task, attack in zip(table["task"], table["attack"], strict=True)
    ]
    limit = pd.Series([np.inf if w is None else w for w in wanted], index=table.index)
    rows = table[table["iteration"] <= limit]
    last = rows.groupby(list(CURVE_COLUMNS), sort=False)["iteration"].transform("max")
    return rows[rows["iteration"] == last]


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
