"""Task splits on disk: one JSON object per line, in the study's columns, byte-stable."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from robustness_scaling.atomic import atomic_path
from robustness_scaling.tasks import Example


def write_split(path: str | Path, examples: Iterable[Example]) -> int:
    """Write examples atomically; returns how many were written."""
    count = 0
    with atomic_path(path) as tmp, tmp.open("w") as handle:
        for example in examples:
            handle.write(json.dumps(example.to_row(), sort_keys=True, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_split(path: str | Path, limit: int | None = None) -> list[Example]:
    """The first ``limit`` examples of a split (``split[:n]``, as the paper loads them)."""
    examples = []
    with Path(path).open() as handle:
        for line in handle:
            if limit is not None and len(examples) >= limit:
                break
            examples.append(Example.from_row(json.loads(line)))
    if limit is not None and len(examples) < limit:
        raise ValueError(f"{path} holds {len(examples)} examples but {limit} were requested")
    return examples
