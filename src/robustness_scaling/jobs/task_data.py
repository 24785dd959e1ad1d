"""The data job: a task's train and validation splits, generated or loaded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustness_scaling.data import make_splits
from robustness_scaling.runtime import Runtime, get_logger
from robustness_scaling.splits import write_split


@dataclass(frozen=True, kw_only=True)
class TaskData:
    """``settings``: the task's data keys (seed, sizes, source, files, columns, ...)."""

    task: str
    settings: Mapping[str, Any]
    train: Path
    validation: Path

    def run(self, runtime: Runtime, log: str) -> None:
        logger = get_logger("data", log)
        splits = make_splits(self.task, self.settings)
        for name, path in (("train", self.train), ("validation", self.validation)):
            count = write_split(path, splits[name])
            logger.info("%s: wrote %d %s examples to %s", self.task, count, name, path)
