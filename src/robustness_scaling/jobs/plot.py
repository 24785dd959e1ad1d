"""The plotting job: every figure (PNG and PDF) from the attacks table alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robustness_scaling.analysis.tables import read_table
from robustness_scaling.figures import FigureOptions, iterations_read, make_all_figures
from robustness_scaling.runtime import Runtime, get_logger


@dataclass(frozen=True, kw_only=True)
class Plot:
    """``options``: the study's ``figures`` slice."""

    table: Path
    options: FigureOptions
    out_dir: Path

    def run(self, runtime: Runtime, log: str) -> None:
        logger = get_logger("figures", log)
        table = read_table(self.table)
        for name, reads in iterations_read(table, self.options).items():
            logger.info("%s reads %s", name, reads)
        written = make_all_figures(table, self.out_dir, self.options)
        logger.info("wrote %d figures to %s", len(written), self.out_dir)
