"""Which rows of the attacks table a figure shows, and how seeds are summarised.

Kept apart from drawing so that each figure module reads as: select, summarise, draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from robustness_scaling.analysis.tables import CURVE_COLUMNS


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
    keys = ["task", "attack", "position", "iteration", "asked_iteration"]
    for (task, attack, position, used, wanted), group in off.groupby(keys, sort=True):
        curves = len(group.drop_duplicates(list(CURVE_COLUMNS)))
        where = (
            "their last iteration: they stop short of"
            if used < wanted
            else "their first iteration: none is recorded at or before"
        )
        noun = "curve" if curves == 1 else "curves"
        lines.append(
            f"{task} · {attack} ({position}): {curves} {noun} at @{used:g}, "
            f"{where} the asked @{wanted:g}"
        )
    return lines


def iteration_note(rows: pd.DataFrame) -> str:
    """``@10`` when every curve in a panel uses iteration 10; ``@2–10`` when they differ."""
    used = sorted(set(rows["iteration"].astype(int)))
    if not used:
        return ""
    return f"@{used[0]}" if len(used) == 1 else f"@{used[0]}–{used[-1]}"


SeedSummary = Literal["median", "mean"]
BOOTSTRAP_SAMPLES = 2000


def seed_interval(values: np.ndarray, how: SeedSummary) -> tuple[float, float, float]:
    """Centre, low and high of one point's values over seeds.

    ``median``: median with the min–max range, which shows every seed and is not pulled by one
    diverged run (our default). ``mean``: mean with a 95 % percentile-bootstrap interval, as
    the paper's plots drew (seaborn's default); resampled from a fixed seed, so the same
    table always gives the same band.
    """
    values = np.asarray(values, dtype=float)
    if how == "median":
        return float(np.median(values)), float(values.min()), float(values.max())
    mean = float(values.mean())
    if len(values) < 2:
        return mean, mean, mean
    rng = np.random.default_rng(0)
    means = rng.choice(values, size=(BOOTSTRAP_SAMPLES, len(values))).mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return mean, float(low), float(high)


def over_seeds(
    rows: pd.DataFrame, by: list[str], value: str, how: SeedSummary = "median"
) -> pd.DataFrame:
    """``centre``, ``low`` and ``high`` of ``value`` over seeds per ``by`` group (sorted by
    ``by``), as :func:`seed_interval` summarises them."""
    summary = [
        (*(key if isinstance(key, tuple) else (key,)), *seed_interval(group[value], how))
        for key, group in rows.groupby(by, sort=True)
    ]
    return pd.DataFrame(summary, columns=[*by, "centre", "low", "high"])


def summary_note(how: SeedSummary) -> str:
    """The caption line that says how a figure's lines and bands summarise seeds."""
    if how == "median":
        return "Lines: median over seeds; bands: min–max over seeds."
    return "Lines: mean over seeds; bands: 95 % bootstrap interval of the mean."


def one_family(table: pd.DataFrame, figure: str) -> str:
    """The one family a figure draws; each family gets its own figure, sizes and palette
    (``make_all_figures`` draws one per family)."""
    families = sorted(table["family"].unique())
    if len(families) != 1:
        raise ValueError(
            f"{figure} draws one model family, and the table holds "
            f"{', '.join(families) or 'none'}: select one family's rows, or call "
            "make_all_figures, which draws one figure per family"
        )
    return str(families[0])


PANEL: tuple[str, ...] = ("task", "attack", "position")
"""What one panel shows: a task under one evaluation attack at one position."""


def panel_keys(rows: pd.DataFrame, columns: Sequence[str] = PANEL) -> list[tuple]:
    """The distinct ``columns`` values of ``rows``, sorted: the panels that have data."""
    return sorted(set(rows[list(columns)].itertuples(index=False, name=None)))


def select(
    rows: pd.DataFrame | None, key: Sequence, columns: Sequence[str] = PANEL
) -> pd.DataFrame | None:
    """The rows of one panel: ``columns`` equal to ``key``'s values, as far as ``key`` goes
    (a key may carry more, such as a column index). A missing table (no reference) stays
    None."""
    if rows is None:
        return None
    mask = np.ones(len(rows), dtype=bool)
    for column, value in zip(columns, key, strict=False):
        mask &= (rows[column] == value).to_numpy()
    return rows[mask]


def tasks_in_order(table: pd.DataFrame) -> list[str]:
    """The table's tasks, one figure row (or group of rows) each, in a stable order."""
    return sorted({str(t) for t in table["task"]})
