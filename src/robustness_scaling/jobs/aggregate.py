"""The aggregation job: the attacks table from every evaluated attack cell."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robustness_scaling.analysis.aggregate import attacks_table
from robustness_scaling.analysis.tables import write_table
from robustness_scaling.runtime import Runtime, get_logger


@dataclass(frozen=True, kw_only=True)
class Aggregate:
    """``cells``: each cell's largest-budget records; ``models``: the model each attacked;
    ``training_attack``: the adversarial-training attack's name ("" without training)."""

    cells: list[Path]
    models: list[Path]
    training_attack: str
    out: Path

    def run(self, runtime: Runtime, log: str) -> None:
        logger = get_logger("aggregate", log)
        metrics = {c: m / "metrics.json" for c, m in zip(self.cells, self.models, strict=True)}
        table = attacks_table(self.cells, metrics, self.training_attack, logger)
        write_table(table, self.out)
        logger.info(
            "wrote %d rows from %d attack cells to %s", len(table), len(self.cells), self.out
        )
