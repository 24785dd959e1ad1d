"""Checks of a model directory that need no torch, so that planning can run them cheaply."""

from __future__ import annotations

import json
from pathlib import Path

from robustness_scaling.errors import InputError


class ModelSourceError(InputError):
    """A model or tokenizer that cannot be loaded; the message names the source."""


def check_weights(model_dir: Path) -> None:
    """Each safetensors file of a model directory whole: its header readable and its tensors'
    bytes all there. A file cut short (a full disk, a killed copy) is named, where loading it
    would fail inside safetensors with a message naming neither file nor cause."""
    for path in sorted(model_dir.glob("*.safetensors")):
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
            length = int.from_bytes(head, "little") if len(head) == 8 else None
            header = handle.read(length) if length is not None and length <= size - 8 else b""
        try:
            tensors = json.loads(header) if header else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            tensors = None
        if not isinstance(tensors, dict):
            raise ModelSourceError(
                f"{path}: not a readable safetensors file ({size} bytes, header unreadable); "
                "the file is corrupt or was cut short: remake or re-download the model"
            )
        needed = max(
            (entry["data_offsets"][1] for name, entry in tensors.items() if name != "__metadata__"),
            default=0,
        )
        if size < 8 + length + needed:
            raise ModelSourceError(
                f"{path}: truncated safetensors file: its header lists {needed} bytes of "
                f"tensors, the file holds {size - 8 - length}; remake or re-download the model"
            )
