"""Atomic writes: a reader (or a killed job's restart) never sees a half-written output."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` only if the block succeeds.

    Works for files and directories alike, so a model directory appears complete or not at all.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    _remove(tmp)
    for stale in path.parent.glob(f".{path.name}.tmp-*"):  # left by a killed writer
        if not _alive(stale.name.rpartition("-")[2]):
            _remove(stale)
    try:
        yield tmp
        if tmp.is_dir() or (path.is_dir() and not path.is_symlink()):
            _remove(path)  # a file replaces a file in one step, leaving no moment without it
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _alive(pid: str) -> bool:
    """Whether a process of this id runs on this machine (a writer elsewhere cannot be asked;
    it never writes the same output, which only one job makes)."""
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        pass
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


NOT_FINITE = "not a finite number: a mean or fit over no rows"


def _finite(value: Any, where: str, nulls: dict[str, str]) -> Any:
    """``value`` with every NaN or infinity replaced by null, its key path noted in ``nulls``."""
    if isinstance(value, float) and not math.isfinite(value):
        nulls[where] = NOT_FINITE
        return None
    if isinstance(value, dict):
        return {k: _finite(v, f"{where}.{k}" if where else str(k), nulls) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v, f"{where}[{i}]", nulls) for i, v in enumerate(value)]
    return value


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as stable, sorted, indented JSON, atomically. Strict JSON: a value that is
    not a finite number is written as null, and a mapping's ``nulls`` entry says which and why
    (``NaN`` is no JSON, and strict parsers refuse the file)."""
    nulls: dict[str, str] = {}
    data = _finite(data, "", nulls)
    if nulls and isinstance(data, dict):
        data = {**data, "nulls": nulls}
    elif nulls:
        raise ValueError(f"{path}: not finite numbers at {sorted(nulls)}")
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def remove_empty_parents(folder: Path) -> None:
    """Drop the folders above a removed resume folder that it alone filled."""
    for parent in folder.parents:
        if parent == Path(parent.anchor) or parent == Path("."):
            return
        try:
            parent.rmdir()
        except OSError:  # not empty (or not there): the folders above are in use
            return
