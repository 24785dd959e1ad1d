"""Entry point of the data stage."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustness_scaling.data import make_splits
from robustness_scaling.runtime import get_logger
from robustness_scaling.splits import write_split


def task_data(
    task: str, settings: Mapping[str, Any], train: Path, validation: Path, log: str
) -> None:
    """Write a task's train and validation splits."""
    logger = get_logger("data", log)
    splits = make_splits(task, settings)
    for name, path in (("train", train), ("validation", validation)):
        count = write_split(path, splits[name])
        logger.info("%s: wrote %d %s examples to %s", task, count, name, path)
