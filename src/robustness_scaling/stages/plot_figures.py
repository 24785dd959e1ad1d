"""Entry point of the plotting stage: every figure from the attacks table alone."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustness_scaling.figures import FigureOptions, make_all_figures
from robustness_scaling.runtime import get_logger
from robustness_scaling.tables import read_table


def figures(table: Path, out_dir: Path, options: Mapping[str, Any], log: str) -> None:
    """Draw the study's figures (PNG and PDF) into ``out_dir``."""
    logger = get_logger("figures", log)
    written = make_all_figures(read_table(table), out_dir, FigureOptions.from_config(options))
    logger.info("wrote %d figures to %s", len(written), out_dir)
