"""Device, dtype, mixed precision, threads and logging for a job, from the study config."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from robustness_scaling.atomic import write_json

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
AUTOCAST_CHOICES = ("auto", "float32", "bfloat16")
GENERATION_BATCH_SIZE = 64
"""Prompts a generation task's victim answers per ``generate`` call, unless the task says."""
FAST_ENOUGH = 0.8
"""``auto`` takes bfloat16 on a CPU when its matmul takes under this share of float32's time."""


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


def _matmul_seconds(autocast: bool, repeats: int = 5) -> float:
    """Best time of one 1408×128 @ 128×512 matmul (a small model's layer), one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(1408, 128), torch.randn(128, 512)
        best = float("inf")
        for _ in range(repeats + 1):
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast, cache_enabled=False):
                a @ b
            best = min(best, time.perf_counter() - start)
        return best
    finally:
        torch.set_num_threads(threads)


def _cpu_key() -> str:
    """What decides how fast this machine's CPU kernels are: the CPU (model and flags), torch,
    and the ISA overrides oneDNN and ATen read from the environment."""
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        first = cpuinfo.read_text().split("\n\n")[0]
        cpu = "\n".join(
            line for line in first.splitlines() if line.startswith(("model name", "flags"))
        )
    parts = [
        platform.machine(),
        platform.processor(),
        cpu,
        torch.__version__,
        torch.backends.cpu.get_cpu_capability(),
        os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
        os.environ.get("ATEN_CPU_CAPABILITY", ""),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    """Where per-machine facts are kept: ``$ROBUSTNESS_SCALING_CACHE``, else the user's cache."""
    if "ROBUSTNESS_SCALING_CACHE" in os.environ:
        return Path(os.environ["ROBUSTNESS_SCALING_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "robustness-scaling"


def cpu_bfloat16_speedup(measure: Callable[[bool], float] = _matmul_seconds) -> float:
    """How many times faster a bfloat16-autocast matmul runs than a float32 one on this CPU.

    Measured once per machine (a few milliseconds, or about a second where bfloat16 is
    emulated) and cached under :func:`cache_dir`, keyed by the CPU, torch and the ISA overrides:
    with AVX512-BF16 or AMX bfloat16 runs ~4× float32, with AVX2 only 20–90× slower.
    """
    path = cache_dir() / "cpu-bfloat16.json"
    key = _cpu_key()
    known = json.loads(path.read_text()) if path.is_file() else {}
    if key not in known:
        known[key] = measure(False) / measure(True)
        with suppress(OSError):  # a read-only home: measure again next time
            write_json(path, known)
    return float(known[key])


def resolve_autocast(setting: str | None, device: torch.device) -> str:
    """The precision a job runs in, ``float32`` or ``bfloat16`` (autocast), from the setting.

    ``auto`` takes bfloat16 only where it is fast: a CUDA device with native bfloat16 (Ampere
    and later), or a CPU whose bfloat16 matmul beats float32's (:func:`cpu_bfloat16_speedup`).
    An explicit ``float32`` or ``bfloat16`` is honoured as given, so a study that must not vary
    between machines sets one.
    """
    if setting is None:
        return "float32"
    if setting not in AUTOCAST_CHOICES:
        raise ValueError(
            f"autocast {setting!r} is not supported; allowed: {', '.join(AUTOCAST_CHOICES)} "
            "(float16 would need loss scaling)"
        )
    if setting != "auto":
        return setting
    if device.type == "cuda":
        fast = torch.cuda.is_bf16_supported(including_emulation=False)
    elif device.type == "cpu":
        fast = cpu_bfloat16_speedup() > 1 / FAST_ENOUGH
    else:
        fast = False
    return "bfloat16" if fast else "float32"


def precision_of(model: torch.nn.Module) -> str:
    """How ``model`` computes right now: ``bfloat16-autocast`` inside a bfloat16 autocast over
    float32 weights, else its weights' dtype (``float32``, ``bfloat16``). Results record it."""
    parameter = next(model.parameters())
    device = parameter.device.type
    if torch.is_autocast_enabled(device) and torch.get_autocast_dtype(device) == torch.bfloat16:
        return "bfloat16-autocast"
    return str(parameter.dtype).removeprefix("torch.")


def provenance(model: torch.nn.Module) -> dict[str, str]:
    """How a result was made: the precision and device the model ran on and the versions that
    ran it; written into every model's metrics.json and every attack cell's records."""
    import transformers

    return {
        "precision": precision_of(model),
        "device": str(next(model.parameters()).device),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


@dataclass(frozen=True)
class Runtime:
    """How a job runs, resolved once at its start: where, in which precision, on how many threads.

    Built from the study's ``runtime`` slice (:meth:`resolve`); every job's ``run`` takes one.
    ``autocast`` is the precision the job computes in (``float32`` or ``bfloat16``), resolved
    from the setting (``autocast_setting``) by :func:`resolve_autocast`. ``generation_batch_size``
    is how many prompts a generation task's victim answers per call: it changes no result, so it
    is a runtime fact, not a setting.
    """

    device: torch.device
    dtype: torch.dtype
    autocast: str
    autocast_setting: str | None = None
    threads: int = 1
    generation_batch_size: int = GENERATION_BATCH_SIZE

    @classmethod
    def resolve(
        cls,
        *,
        device: str = "auto",
        dtype: str = "float32",
        autocast: str | None = "auto",
        threads: int = 1,
        generation_batch_size: int = GENERATION_BATCH_SIZE,
    ) -> Runtime:
        """The runtime of the config's names: ``device`` ``auto`` picks CUDA when present,
        ``autocast`` ``auto`` bfloat16 only where it is fast."""
        resolved = resolve_device(device)
        return cls(
            device=resolved,
            dtype=resolve_dtype(dtype),
            autocast=resolve_autocast(autocast, resolved),
            autocast_setting=autocast,
            threads=max(1, threads),
            generation_batch_size=generation_batch_size,
        )


@contextmanager
def mixed_precision(runtime: Runtime, log: logging.Logger | None = None) -> Iterator[None]:
    """Run matmuls and attention in bfloat16 where ``runtime.autocast`` says so, while weights,
    optimizer state and losses stay in the model's dtype; no-op in float32.

    bfloat16 matmuls are several times faster than float32 ones on GPUs and on CPUs with
    AVX512-BF16 or AMX, and float32 master weights keep the small optimizer updates that pure
    bfloat16 weights (``dtype: bfloat16``) round away. On CPU, attention runs on PyTorch's math
    kernel: the fused CPU kernel's bfloat16 backward is slower than its float32 one. A stage runs
    whole inside the context, optimizer steps included, so autocast's cache of bfloat16 weight
    copies is off: it would keep serving the weights of before the first step. ``log`` gets
    a line saying which precision the job runs in.
    """
    device = runtime.device
    if log is not None:
        log.info(
            "runs on %s in %s (autocast: %s)", device, runtime.autocast, runtime.autocast_setting
        )
    if runtime.autocast == "float32":
        yield
        return
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


PROGRESS = {"progress": True}
"""``extra`` of a job's log line that the terminal running the workflow shows too: which stage
runs, how far it is, and roughly how long is left."""


def job_label(path: str | Path) -> str:
    """A job's name in the terminal, from its log file: ``logs/pretrain/tiny/859k.log`` →
    ``pretrain/tiny/859k``."""
    parts = Path(path).with_suffix("").parts
    return "/".join(parts[parts.index("logs") + 1 :] if "logs" in parts else parts[-3:])


def get_logger(name: str, path: str | None = None) -> logging.Logger:
    """A logger of timestamped progress lines, to ``path`` (a rule's log file) or stderr.

    A job's lines logged with ``extra=PROGRESS`` also go, labelled with the job, to the
    terminal that runs the workflow (the process's original stderr: under SLURM, the job's
    output file), so a first run shows what it is doing without opening log files.
    """
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        if path:
            console = logging.StreamHandler(sys.__stderr__)
            console.addFilter(lambda record: getattr(record, "progress", False))
            console.setFormatter(
                logging.Formatter(f"%(asctime)s [{job_label(path)}] %(message)s", "%H:%M:%S")
            )
            logger.addHandler(console)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
