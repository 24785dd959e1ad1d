"""Device, dtype, mixed precision, threads and logging for a job, from the study config."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
    return torch.device(name)


def resolve_dtype(name: str) -> torch.dtype:
    try:
        return _DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; allowed: {', '.join(_DTYPES)}") from None


@contextmanager
def mixed_precision(runtime: Mapping[str, Any]) -> Iterator[None]:
    """Run matmuls and attention in ``runtime["autocast"]`` while weights, optimizer state and
    losses stay in the model's dtype; no-op when it is None.

    bfloat16 matmuls are several times faster than float32 ones on GPUs and on CPUs with
    AVX512-BF16 or AMX, and float32 master weights keep the small optimizer updates that pure
    bfloat16 weights (``dtype: bfloat16``) round away. On CPU, attention runs on PyTorch's math
    kernel: the fused CPU kernel's bfloat16 backward is slower than its float32 one. A stage runs
    whole inside the context, optimizer steps included, so autocast's cache of bfloat16 weight
    copies is off: it would keep serving the weights of before the first step.
    """
    name = runtime.get("autocast")
    if name is None:
        yield
        return
    if name != "bfloat16":
        raise ValueError(
            f"autocast {name!r} is not supported; allowed: bfloat16 "
            "(float16 would need loss scaling)"
        )
    device = resolve_device(runtime["device"])
    with ExitStack() as stack:
        stack.enter_context(torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False))
        if device.type == "cpu":
            stack.enter_context(sdpa_kernel(SDPBackend.MATH))
        yield


def setup_job(threads: int, seed: int) -> None:
    """Pin the thread count and the global seed: CPU results are then bit-reproducible."""
    torch.set_num_threads(max(1, threads))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # progress goes to our log lines, not a console bar


def get_logger(name: str, path: str | None = None) -> logging.Logger:
    """A logger of timestamped progress lines, to ``path`` (a rule's log file) or stderr."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
