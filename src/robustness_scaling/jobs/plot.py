"""The plotting job: every figure (PNG and PDF) of each family from the attacks table alone,
with a reference table (the original study's results) drawn beside it when one is named."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robustness_scaling.analysis.tables import read_table
from robustness_scaling.figures import FigureOptions, iterations_read, make_all_figures
from robustness_scaling.runtime import Runtime, get_logger


@dataclass(frozen=True, kw_only=True)
class Plot:
    """``options``: the study's ``figures`` slice; ``families``: one figure of each type each."""

    table: Path
    options: FigureOptions
    families: tuple[str, ...]
    out_dir: Path
    reference: Path | None = None

    def run(self, runtime: Runtime, log: str) -> None:
        logger = get_logger("figures", log)
        table = read_table(self.table)
        reference = None if self.reference is None else read_table(self.reference)
        for name, reads in iterations_read(table, self.options).items():
            logger.info("%s reads %s", name, reads)
        if reference is not None:
            drawn = sorted(set(reference["family"]) & set(self.families))
            logger.info(
                "reference %s: drawing its %s rows dashed beside this study's",
                self.reference,
                ", ".join(drawn) or "(no family in common: nothing)",
            )
        written = make_all_figures(table, self.out_dir, self.options, self.families, reference)
        n_files = sum(len(paths) for paths in written.values())
        logger.info(
            "wrote %d files of %d figure types for %s to %s",
            n_files,
            len(written),
            ", ".join(self.families),
            self.out_dir,
        )
