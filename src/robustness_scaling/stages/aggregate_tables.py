"""Entry points of the aggregation stage: the attacks table, then the metric tables."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from robustness_scaling.aggregate import attacks_table
from robustness_scaling.metrics import offense_defense, slopes_table
from robustness_scaling.runtime import get_logger
from robustness_scaling.tables import read_table, write_table


def attacks(
    cells: Sequence[Path], model_dirs: Sequence[Path], training_attack: str, out: Path, log: str
) -> None:
    """Write the attacks table from the largest-budget cells and the models they attacked."""
    logger = get_logger("aggregate", log)
    metrics = {Path(c): Path(m) / "metrics.json" for c, m in zip(cells, model_dirs, strict=True)}
    table = attacks_table([Path(c) for c in cells], metrics, training_attack, logger)
    write_table(table, out)
    logger.info("wrote %d rows from %d attack cells to %s", len(table), len(cells), out)


def metric_tables(table: Path, slopes: Path, offense: Path, log: str) -> None:
    """Write the slope fits and the offense–defense table computed from the attacks table."""
    logger = get_logger("metrics", log)
    attacks_rows = read_table(table)
    for frame, path in (
        (slopes_table(attacks_rows), slopes),
        (offense_defense(attacks_rows), offense),
    ):
        write_table(frame, path)
        logger.info("wrote %d rows to %s", len(frame), path)
