"""Running a rule's job in the test process, as its workflow script would."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import torch

from robustness_scaling.jobs.entry import run_rule


def run_rule_here(rule: Any, cls: type, loggers: Sequence[str], **files: Any) -> None:
    """``run_rule`` with a fake Snakemake object; afterwards the process is as before (stderr,
    torch's deterministic switch). ``loggers`` are emptied first, so each run logs to its own
    file rather than to the first run's."""
    for name in loggers:
        logger = logging.getLogger(name)
        for handler in logger.handlers[:]:
            logger.removeHandler(handler)
            handler.close()
    stderr = sys.stderr
    try:
        run_rule(rule, cls, **files)
    finally:
        if sys.stderr is not stderr:
            sys.stderr.close()
        sys.stderr = stderr
        torch.use_deterministic_algorithms(False)  # setup_job's process-wide switch
