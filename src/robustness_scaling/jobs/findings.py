"""The findings job: the report's front page, the study's settings and its headline findings
measured on the attacks table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustness_scaling.analysis.tables import read_table
from robustness_scaling.atomic import atomic_path
from robustness_scaling.figures import FigureOptions
from robustness_scaling.findings import front_page_rst, headline_findings
from robustness_scaling.runtime import Runtime, get_logger


@dataclass(frozen=True, kw_only=True)
class Findings:
    """``options``: the study's figure options (the findings read the figures' iterations);
    ``study``: what the front page says was run."""

    table: Path
    options: FigureOptions
    study: dict[str, Any]
    out: Path

    def run(self, runtime: Runtime, log: str) -> None:
        logger = get_logger("findings", log)
        findings = headline_findings(read_table(self.table), self.options)
        for finding in findings:
            logger.info("%s: %s", finding.title, finding.measured)
        with atomic_path(self.out) as tmp:
            tmp.write_text(front_page_rst(self.study, findings, self.options))
        logger.info("wrote %s", self.out)
