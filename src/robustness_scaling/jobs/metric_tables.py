"""The metric-tables job: slope fits and the offense–defense table from the attacks table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robustness_scaling.analysis.metrics import offense_defense, slopes_table
from robustness_scaling.analysis.tables import read_table, write_table
from robustness_scaling.runtime import Runtime, get_logger


@dataclass(frozen=True, kw_only=True)
class MetricTables:
    table: Path
    slopes: Path
    offense_defense: Path

    def run(self, runtime: Runtime, log: str) -> None:
        logger = get_logger("metrics", log)
        attacks = read_table(self.table)
        for frame, path in (
            (slopes_table(attacks), self.slopes),
            (offense_defense(attacks), self.offense_defense),
        ):
            write_table(frame, path)
            logger.info("wrote %d rows to %s", len(frame), path)
