"""The resumable training loop shared by pretraining, finetuning and adversarial rounds.

Data order is a pure function of the step index (``batch_for_step``), and dropout is off, so
the only state a restart needs is the model, the optimizer, the schedule and the step: a job
killed at any point and restarted produces bit-identical weights on CPU.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from robustness_scaling.atomic import atomic_path
from robustness_scaling.flops import training_flops
from robustness_scaling.runtime import PROGRESS
from robustness_scaling.training import sharded
from robustness_scaling.training.adafactor import Adafactor
from robustness_scaling.training.sharded import current_world

Batch = dict[str, torch.Tensor]
OPTIMIZERS = ("adafactor", "adamw", "sgd")
SCHEDULES = ("linear", "constant", "cosine")
TRAIN_CHECKPOINT = "train.pt"  # a training job's checkpoint, in its resume folder


@dataclass(frozen=True)
class OptimizerSettings:
    """Optimizer, learning-rate schedule and how the loop keeps its state (checkpoints every
    ``checkpoint_seconds``; ``activation_checkpointing`` recomputes activations in the backward
    pass to save memory); stage settings extend it with their own fields."""

    optimizer: str = "adafactor"
    learning_rate: float = 1e-5
    schedule: str = "linear"
    warmup_fraction: float = 0.0
    weight_decay: float = 0.0
    checkpoint_seconds: float = 300
    activation_checkpointing: bool = False

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> OptimizerSettings:
        """Take the keys this dataclass knows; the schema has already rejected unknown ones."""
        return cls(**{f.name: cfg[f.name] for f in fields(cls) if f.name in cfg})


@dataclass
class TrainState:
    """What a run has done so far; saved in every checkpoint."""

    step: int = 0
    losses: list[float] = field(default_factory=list)
    flops: int = 0
    tokens: int = 0


def build_optimizer(params: Any, settings: OptimizerSettings) -> torch.optim.Optimizer:
    """Adafactor as in the paper (no relative step, no parameter scaling), or AdamW / SGD."""
    name, lr = settings.optimizer, settings.learning_rate
    weight_decay = settings.weight_decay
    if name == "adafactor":
        return Adafactor(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")


def build_scheduler(
    optimizer: torch.optim.Optimizer, settings: OptimizerSettings, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup over ``warmup_fraction`` of the steps, then linear / cosine decay or flat."""
    import math

    schedule = settings.schedule
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; allowed: {', '.join(SCHEDULES)}")
    warmup = int(settings.warmup_fraction * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        if schedule == "linear":
            return max(0.0, 1.0 - progress)
        if schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _save_checkpoint(path: Path, model, optimizer, scheduler, state: TrainState) -> None:
    extra = {
        "scheduler": scheduler.state_dict(),
        "state": state.__dict__,
        "rng": torch.get_rng_state(),
    }
    if current_world().sharded:
        sharded.save_checkpoint(sharded.sharded_checkpoint(path), model, optimizer, extra)
        return
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), **extra}, tmp)


def _has_checkpoint(path: Path | None) -> bool:
    if path is None:
        return False
    if current_world().sharded:
        return sharded.has_checkpoint(sharded.sharded_checkpoint(path))
    return path.exists()


def _load_checkpoint(path: Path, model, optimizer, scheduler) -> TrainState:
    if current_world().sharded:
        saved = sharded.load_checkpoint(sharded.sharded_checkpoint(path), model, optimizer)
    else:
        saved = torch.load(path, map_location="cpu", weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["rng"])
    return TrainState(**saved["state"])


def remove_checkpoint(path: Path | None) -> None:
    """Drop a finished job's resume checkpoint (every rank calls it in a sharded job)."""
    if path is None:
        return
    if current_world().sharded:
        sharded.remove_checkpoint(sharded.sharded_checkpoint(path))
    else:
        path.unlink(missing_ok=True)


def train(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    batch_for_step: Callable[[int], list[Batch]],
    loss_fn: Callable[[torch.nn.Module, Batch], torch.Tensor],
    total_steps: int,
    n_params: int,
    checkpoint: Path | None,
    checkpoint_seconds: float,
    log: logging.Logger,
    activation_checkpointing: bool = False,
) -> TrainState:
    """Run ``total_steps`` optimizer steps, each over the microbatches ``batch_for_step(step)``.

    Gradients of the microbatches are accumulated with weights proportional to their example
    counts, so the step equals one step on the whole effective batch. FLOPs are 6·N·T with T
    the padded token count of every microbatch: activation checkpointing recomputes the
    forward pass but is counted as the model FLOPs it does not change. In a sharded job
    (:mod:`robustness_scaling.training.sharded`) each rank passes its slice of every microbatch;
    FSDP averages the ranks' gradients, so each slice's weight is scaled by the world size, and
    the logged loss, FLOPs and tokens are the whole step's, as in one process.
    """
    world = current_world()
    state = TrainState()
    if _has_checkpoint(checkpoint):
        state = _load_checkpoint(checkpoint, model, optimizer, scheduler)
        log.info("resumed from %s at step %d/%d", checkpoint, state.step, total_steps)
    model.train()
    if activation_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        log.info("activation checkpointing: each layer's activations are recomputed in backward")
    started = last_save = last_log = time.monotonic()
    first_step = state.step
    while state.step < total_steps:
        micro = batch_for_step(state.step)
        n_examples = sum(len(batch["input_ids"]) for batch in micro)
        optimizer.zero_grad(set_to_none=True)
        step_loss = torch.zeros((), device=micro[0]["input_ids"].device)
        for batch in micro:
            state.tokens += batch["input_ids"].numel()
            state.flops += training_flops(n_params, batch["input_ids"].numel())
        if world.sharded:
            for share, rows in sharded.rank_share(micro, world):
                loss = loss_fn(model, share) * (rows / n_examples)
                (loss * world.size).backward()
                step_loss += loss.detach()
            sharded.all_sum(step_loss)
        else:
            for batch in micro:
                loss = loss_fn(model, batch) * (len(batch["input_ids"]) / n_examples)
                loss.backward()
                step_loss += loss.detach()
        optimizer.step()
        scheduler.step()
        state.step += 1
        state.losses.append(float(step_loss))
        now = time.monotonic()
        if world.leader and (now - last_log >= 10 or state.step == total_steps):
            rate = (state.step - first_step) / max(now - started, 1e-9)
            log.info(
                "step %d/%d loss %.4f lr %.2e (%.1f steps/s, eta %.0fs)",
                state.step,
                total_steps,
                state.losses[-1],
                scheduler.get_last_lr()[0],
                rate,
                (total_steps - state.step) / max(rate, 1e-9),
                extra=PROGRESS,
            )
            last_log = now
        due = now - last_save >= checkpoint_seconds
        if world.sharded:
            due = sharded.anyone(due, step_loss.device)
        if checkpoint is not None and due and state.step < total_steps:
            _save_checkpoint(checkpoint, model, optimizer, scheduler, state)
            last_save = now
    if activation_checkpointing:
        model.gradient_checkpointing_disable()
    model.eval()
    return state
