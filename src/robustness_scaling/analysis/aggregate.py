"""Turn attack cells and model metrics into the tidy attacks table (docs/tables.md).

Each attack cell's largest budget holds every iteration's records, so the table needs only
those files. A row is one family × size × task × seed × round × attack × position × iteration.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from robustness_scaling.analysis.tables import COLUMN_NAMES, validate_table
from robustness_scaling.atomic import read_json

CELL_KEYS = ["family", "size", "task", "seed", "round", "attack", "position"]


def cell_curve(records: pd.DataFrame) -> pd.DataFrame:
    """ASR and cumulative attack and judge FLOPs per iteration of one attack cell's records.

    Iterations no judge decided (a generation task judged only at its budgets) have no ASR and
    no row; the FLOPs spent on them still count at the next row.
    """
    by_iteration = records.groupby("iteration")
    curve = pd.DataFrame(
        {
            "asr": by_iteration["success"].mean(),
            "attack_flops": by_iteration["flops"].sum().cumsum().astype("float64"),
            "judge_flops": by_iteration["judge_flops"].sum().cumsum().astype("float64"),
            "precision": by_iteration["precision"].first(),
        }
    ).reset_index()
    curve = curve[curve["asr"].notna()].astype({"asr": "float64"}).reset_index(drop=True)
    first = records.iloc[0]
    curve["attack_flops_per_example"] = curve["attack_flops"] / first["n_attacked"]
    for column in [*CELL_KEYS, "n_val", "n_attacked", "n_params"]:
        curve[column] = first[column]
    curve["judge"] = first.get("judge", "")
    # Accuracy on the examples this attack considered: those correct are the ones attacked.
    curve["clean_accuracy"] = first["n_attacked"] / first["n_val"]
    return curve


def attacks_table(
    cells: Sequence[Path],
    model_metrics: Mapping[Path, Path],
    training_attack: str,
    log: logging.Logger,
) -> pd.DataFrame:
    """The attacks table from each cell's largest-budget records and its model's metrics.

    ``model_metrics`` maps a cell's records file to the metrics.json of the model it attacked
    (for pretraining and defense compute). Cells in which no example was classified correctly
    have no curve and are left out, with a log line.
    """
    curves = []
    for cell in cells:
        records = pd.read_parquet(cell)
        if records.empty:
            log.warning("%s: no example was classified correctly; left out of the table", cell)
            continue
        metrics = read_json(model_metrics[cell])
        curve = cell_curve(records)
        curve["pretrain_flops"] = float(metrics["pretrain_flops"])
        curve["defense_flops"] = float(metrics.get("defense_flops_cumulative", 0.0))
        curve["training_attack"] = training_attack if curve["round"].iloc[0] > 0 else ""
        curves.append(curve)
    if not curves:
        raise ValueError("no attack cell has any attacked example: nothing to aggregate")
    table = pd.concat(curves, ignore_index=True)[list(COLUMN_NAMES)]
    return validate_table(table.sort_values([*CELL_KEYS, "iteration"], ignore_index=True))
