"""Keys that bind state kept outside Snakemake's outputs to everything it was made from.

Snakemake reruns a job when its params, code or inputs change, but state a job keeps for itself
(a resume checkpoint, the finished budgets of an attack ladder) survives the rerun. Such state
is stored with a key of the job's settings and the identity of its input files, and used only
when the key matches: a checkpoint from other settings is discarded, never continued.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from robustness_scaling.atomic import atomic_path


def file_identity(path: str | Path) -> list[Any]:
    """Name, size and modification time of a file, or of every file below a directory: a
    model rewritten in place (retrained, re-downloaded) gets another identity."""
    path = Path(path)
    if not path.exists():
        return [str(path), None]
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [
        [os.path.relpath(p, path.parent), p.stat().st_size, p.stat().st_mtime_ns] for p in files
    ]


def binding_key(settings: Mapping[str, Any], inputs: Iterable[str | Path]) -> str:
    """A digest of ``settings`` (any JSON-able mapping: a job's params, its code fingerprint)
    and of the identity of its input files."""
    payload = {
        "settings": settings,
        "inputs": [file_identity(p) for p in inputs],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class KeyedFolder:
    """A folder of state that holds only what was made under one key; another key empties it,
    with a log line saying why."""

    def __init__(self, folder: Path, key: str, log: logging.Logger, what: str) -> None:
        self.folder = folder
        key_file = folder / "key"
        if folder.exists() and (not key_file.is_file() or key_file.read_text() != key):
            log.info(
                "%s in %s was made with other settings, code or inputs: starting afresh",
                what,
                folder,
            )
            shutil.rmtree(folder)
        for attempt in range(3):  # a finishing job may remove an emptied parent meanwhile
            try:
                folder.mkdir(parents=True, exist_ok=True)
                if not key_file.is_file():
                    with atomic_path(key_file) as tmp:
                        tmp.write_text(key)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
