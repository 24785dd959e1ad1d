"""Causal-LM pretraining of the tiny family, so each size is a real language model.

The corpus (task texts with their answers) is tokenized once, joined with end-of-text
separators, and cut into fixed blocks: no padding, so every counted token is a trained token.
Pretraining FLOPs are counted as the loop runs (6·N_gen·T), not assumed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robustness_scaling.models.load import load_tokenizer, save_model_dir
from robustness_scaling.models.tiny import gpt_neox_config
from robustness_scaling.training.loop import (
    Batch,
    OptimizerSettings,
    build_optimizer,
    build_scheduler,
    train,
)


@dataclass(frozen=True)
class PretrainSettings(OptimizerSettings):
    """How long and how hard to pretrain each tiny size."""

    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    warmup_fraction: float = 0.05
    steps: int = 300
    batch_size: int = 32
    block_size: int = 128


def pack_corpus(tokenizer: Any, texts: list[str], block_size: int) -> torch.Tensor:
    """Token blocks of the corpus, each text followed by end-of-text; the ragged tail is dropped."""
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    stream = np.fromiter(
        (token for row in ids for token in (*row, tokenizer.eos_token_id)), dtype=np.int64
    )
    n_blocks = len(stream) // block_size
    if n_blocks == 0:
        raise ValueError(f"pretraining corpus of {len(stream)} tokens is shorter than one block")
    return torch.from_numpy(stream[: n_blocks * block_size].reshape(n_blocks, block_size))


def lm_loss(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    return model(input_ids=batch["input_ids"], labels=batch["input_ids"]).loss


def pretrain(
    texts: list[str],
    tokenizer_dir: str | Path,
    size: dict[str, Any],
    out_dir: str | Path,
    settings: PretrainSettings,
    *,
    seed: int,
    device: torch.device,
    dtype: torch.dtype,
    checkpoint: Path | None,
    log: logging.Logger,
) -> dict[str, Any]:
    """Pretrain one tiny size from scratch; writes an ``AutoModelForCausalLM`` directory."""
    from transformers import GPTNeoXForCausalLM

    started = time.monotonic()
    tokenizer = load_tokenizer(tokenizer_dir)
    torch.manual_seed(seed)
    config = gpt_neox_config(size, len(tokenizer), tokenizer.eos_token_id)
    model = GPTNeoXForCausalLM(config).to(device=device, dtype=dtype)
    n_params = model.num_parameters()
    blocks = pack_corpus(tokenizer, texts, settings.block_size)
    log.info(
        "pretraining %d parameters for %d steps of %d×%d tokens on a %d-block corpus",
        n_params,
        settings.steps,
        settings.batch_size,
        settings.block_size,
        len(blocks),
    )
    per_epoch = len(blocks) // settings.batch_size or 1

    def batch_for_step(step: int) -> list[Batch]:
        epoch, offset = divmod(step, per_epoch)
        order = np.random.default_rng([seed, epoch]).permutation(len(blocks))
        rows = order[offset * settings.batch_size : (offset + 1) * settings.batch_size]
        return [{"input_ids": blocks[rows].to(device)}]

    optimizer = build_optimizer(model.parameters(), settings)
    scheduler = build_scheduler(optimizer, settings, settings.steps)
    state = train(
        model,
        optimizer,
        scheduler,
        batch_for_step,
        lm_loss,
        settings.steps,
        n_params,
        checkpoint,
        settings.checkpoint_seconds,
        log,
    )
    log.info("pretrained in %.0fs, final loss %.4f", time.monotonic() - started, state.losses[-1])
    metrics = {
        "n_params_generative": n_params,
        "pretrain_tokens": state.tokens,
        "pretrain_flops": state.flops,
        "loss_curve": state.losses,
        "steps": state.step,
    }
    save_model_dir(out_dir, model, tokenizer, metrics)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return metrics
