"""Training a model that does not fit one device: data parallel over the processes ``torchrun``
starts (one per GPU), with parameters, gradients and optimizer state sharded by FSDP2
(``fully_shard``).

Every rank runs the same loop over the same step schedule; each takes its slice of every
microbatch (:func:`rank_share`), so a step still sees the whole effective batch and the loss
weights add up exactly as in one process. Checkpoints for resume are sharded
(``torch.distributed.checkpoint``: each rank writes its own shard, and a ``latest`` file,
replaced atomically once all shards are down, names the complete one); the finished model is
gathered into one ordinary safetensors directory by rank 0. Outside ``torchrun`` the world has
one process and none of this runs: single-process results stay bit-identical.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from robustness_scaling.atomic import atomic_path
from robustness_scaling.models.load import save_model_dir
from robustness_scaling.runtime import provenance

Batch = dict[str, torch.Tensor]
LATEST = "latest"
EXTRA = "extra.pt"


@dataclass(frozen=True)
class World:
    """This process's place among the job's training processes."""

    rank: int = 0
    size: int = 1

    @property
    def sharded(self) -> bool:
        return self.size > 1

    @property
    def leader(self) -> bool:
        """Rank 0 writes the job's files and log lines; the others compute alongside."""
        return self.rank == 0


def current_world() -> World:
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def join_process_group(device: torch.device) -> torch.device:
    """Join the process group of a ``torchrun`` launch (NCCL on CUDA, gloo on CPU) and return
    this rank's device: its own GPU (``LOCAL_RANK``), or the CPU."""
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def loading_device(device: torch.device) -> torch.device:
    """Where a training job loads its model: a sharded job on the CPU, since :func:`shard`
    moves each rank's shard to its device; otherwise ``device`` itself."""
    return torch.device("cpu") if current_world().sharded else device


def shard(model: torch.nn.Module) -> torch.nn.Module:
    """Shard each transformer layer (the classes transformers keeps whole, ``_no_split_modules``),
    then the rest of the model; gathered one layer at a time in forward and backward."""
    from torch.distributed.fsdp import fully_shard

    whole = set(getattr(model, "_no_split_modules", None) or ())
    layers = [m for m in model.modules() if type(m).__name__ in whole]
    if not layers:
        raise ValueError(
            f"{type(model).__name__} names no transformer layer class (_no_split_modules): "
            "cannot shard it layer by layer"
        )
    for layer in layers:
        fully_shard(layer)
    fully_shard(model)
    # FSDP sets itself up on the root's first forward (an attack's first call is to the
    # body); the root keeps its parameters whole after a forward, and the optimizer must be
    # given the sharded ones.
    device = next(model.parameters()).device
    with torch.no_grad():
        model(input_ids=torch.zeros((1, 1), dtype=torch.long, device=device))
    model.reshard()
    return model


def rank_share(micro: list[Batch], world: World) -> list[tuple[Batch, int]]:
    """This rank's contiguous slice of each microbatch and how many examples it holds.

    Every rank gets the same number of passes (the collectives of each forward and backward
    must line up): a rank whose slice is empty runs its pass on one row with weight zero.
    """
    shares = []
    for batch in micro:
        rows = len(batch["input_ids"])
        start, stop = rows * world.rank // world.size, rows * (world.rank + 1) // world.size
        if start == stop:
            shares.append(({k: v[:1] for k, v in batch.items()}, 0))
        else:
            shares.append(({k: v[start:stop] for k, v in batch.items()}, stop - start))
    return shares


@contextmanager
def root_gathered(model: torch.nn.Module) -> Iterator[None]:
    """Inside, the parameters outside the transformer layers (embedding, final norm, head) are
    whole on every rank; the layers still gather themselves when they run. An attack calls the
    embedding, the body and the head one by one, not the model's own forward, which is where
    FSDP would gather them. No-op outside a sharded job."""
    if not current_world().sharded:
        yield
        return
    model.set_reshard_after_backward(False, recurse=False)  # a gradient pass ends in backward
    model.unshard()
    try:
        yield
    finally:
        model.reshard()
        model.set_reshard_after_backward(True, recurse=False)


def gathered_losses(losses: np.ndarray) -> np.ndarray:
    """Each training example's loss from the rank that computed it (NaN where none did): every
    rank holds those of its slices; a row passed twice (a weight-zero pass) takes the lowest
    rank's value."""
    parts: list[Any] = [None] * current_world().size
    dist.all_gather_object(parts, losses)
    merged = np.full_like(losses, np.nan)
    for part in parts:
        merged = np.where(np.isnan(merged), part, merged)
    return merged


def all_sum(value: torch.Tensor) -> torch.Tensor:
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def anyone(flag: bool, device: torch.device) -> bool:
    """Whether any rank says yes: a decision taken from each rank's clock (when to checkpoint)
    must be the same everywhere, or the ranks' collectives stop matching."""
    return bool(all_sum(torch.tensor(float(flag), device=device)).item())


def sharded_checkpoint(path: Path) -> Path:
    """Where the sharded checkpoint of a job whose one-process checkpoint is ``path`` lives."""
    return path.with_name(path.name + ".sharded")


def has_checkpoint(folder: Path) -> bool:
    return (folder / LATEST).is_file()


def save_checkpoint(
    folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, extra: dict[str, Any]
) -> None:
    """Write step ``extra["state"]["step"]``'s shards and rank 0's ``extra`` (the schedule, the
    loop's state, the random state: the same on every rank), then point ``latest`` at them and
    drop the previous ones: a job killed at any moment leaves the last complete checkpoint."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    world = current_world()
    name = f"step{extra['state']['step']:09d}"
    model_state, optimizer_state = get_state_dict(model, optimizer)
    target = folder / name
    if world.leader:  # the unfinished shards of a killed job may be there
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
    dist.barrier()
    dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=target)
    dist.barrier()
    if world.leader:
        torch.save(extra, target / EXTRA)
        with atomic_path(folder / LATEST) as tmp:
            tmp.write_text(name)
        for old in folder.iterdir():
            if old.is_dir() and old.name != name:
                shutil.rmtree(old)
    dist.barrier()


def load_checkpoint(
    folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """Load the latest complete checkpoint into ``model`` and ``optimizer``; return its
    ``extra``."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    model_state, optimizer_state = get_state_dict(model, optimizer)
    saved = {"model": model_state, "optimizer": optimizer_state}
    target = folder / (folder / LATEST).read_text()
    dcp.load(saved, checkpoint_id=target)
    set_state_dict(
        model,
        optimizer,
        model_state_dict=saved["model"],
        optim_state_dict=saved["optimizer"],
    )
    return torch.load(target / EXTRA, map_location="cpu", weights_only=False)


def remove_checkpoint(folder: Path) -> None:
    dist.barrier()
    if current_world().leader and folder.exists():
        shutil.rmtree(folder)


def gathered_copy(model: torch.nn.Module) -> torch.nn.Module | None:
    """On rank 0, an ordinary one-device copy (on the CPU) of the sharded ``model``'s weights, to
    save like any other model; ``None`` on the other ranks. Every rank must call it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    weights = get_model_state_dict(
        model, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
    )
    if not current_world().leader:
        return None
    with torch.device("meta"):
        copy = type(model)._from_config(model.config)
    copy.load_state_dict(weights, assign=True)
    copy.tie_weights()
    return copy.eval()


def save_trained(
    out_dir: str | Path,
    model: torch.nn.Module,
    tokenizer: Any,
    metrics: Mapping[str, Any],
    extra: Callable[[Path], None] | None = None,
) -> None:
    """``save_model_dir`` for a model this job trained, sharded or not: a sharded model is
    gathered and written by rank 0 alone, with a provenance that says how it ran (precision,
    device, ``processes``); every rank calls it and returns once the directory exists."""
    world = current_world()
    if not world.sharded:
        save_model_dir(out_dir, model, tokenizer, metrics, extra)
        return
    made_by = {**provenance(model), "processes": world.size}
    copy = gathered_copy(model)
    if copy is not None:
        save_model_dir(out_dir, copy, tokenizer, metrics, extra, made_by=made_by)
    dist.barrier()
