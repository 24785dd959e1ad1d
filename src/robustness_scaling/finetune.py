"""Full finetuning of a two-class sequence classifier (PAPER_SPEC §3), resumable.

Read top to bottom: tokenize the task, build the optimizer and schedule, run the shared
resumable loop over a seeded data order, evaluate clean accuracy, save weights and metrics.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from robustness_scaling.models import (
    load_classifier,
    load_tokenizer,
    pad_batch,
    predict_labels,
    save_model_dir,
)
from robustness_scaling.tasks import Example, model_input
from robustness_scaling.training import (
    Batch,
    OptimizerSettings,
    build_optimizer,
    build_scheduler,
    train,
)

CONTEXT_MARGIN = 24  # the paper drops examples longer than context length − 24 tokens


@dataclass(frozen=True)
class FinetuneSettings(OptimizerSettings):
    """The finetuning hyperparameters; the paper's are Adafactor, lr 1e-5, linear, 3 epochs, 8."""

    epochs: float = 3
    batch_size: int = 8
    minibatch_size: int = 8
    eval_batch_size: int = 64


def tokenize_examples(
    tokenizer: Any, examples: list[Example], include_instructions: bool, max_tokens: int
) -> tuple[list[list[int]], list[int], int]:
    """Token ids and labels of the examples that fit the context; also how many were dropped."""
    texts = [model_input(example, include_instructions) for example in examples]
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    kept = [i for i, ids in enumerate(encoded) if len(ids) <= max_tokens]
    return (
        [encoded[i] for i in kept],
        [examples[i].clf_label for i in kept],
        len(examples) - len(kept),
    )


def classification_loss(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """Cross-entropy over the two classes at the last non-pad token."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return F.cross_entropy(logits.float(), batch["labels"])


def clean_accuracy(
    model: torch.nn.Module, sequences: list[list[int]], labels: list[int], pad: int, batch: int
) -> float:
    predictions = predict_labels(model, sequences, pad, batch)
    return float((predictions == torch.tensor(labels)).float().mean())


def finetune(
    train_examples: list[Example],
    validation_examples: list[Example],
    model_source: str | Path,
    out_dir: str | Path,
    settings: FinetuneSettings,
    *,
    include_instructions: bool,
    seed: int,
    device: torch.device,
    dtype: torch.dtype,
    checkpoint: Path | None,
    pretrain_flops: int,
    log: logging.Logger,
) -> dict[str, Any]:
    """Finetune ``model_source`` on the task and write the model directory ``out_dir``.

    The directory holds safetensors weights, the tokenizer and ``metrics.json``; it appears
    atomically. Returns the metrics.
    """
    started = time.monotonic()
    torch.manual_seed(seed)  # the fresh score head's initialisation
    tokenizer = load_tokenizer(model_source)
    model = load_classifier(model_source, tokenizer.pad_token_id, dtype, device)
    n_params = model.num_parameters()
    max_tokens = model.config.max_position_embeddings - CONTEXT_MARGIN
    train_ids, train_labels, dropped = tokenize_examples(
        tokenizer, train_examples, include_instructions, max_tokens
    )
    val_ids, val_labels, val_dropped = tokenize_examples(
        tokenizer, validation_examples, include_instructions, max_tokens
    )
    log.info(
        "finetuning %s (%d parameters) on %d examples (%d dropped as longer than %d tokens), "
        "validating on %d",
        model_source,
        n_params,
        len(train_ids),
        dropped,
        max_tokens,
        len(val_ids),
    )
    if settings.batch_size % settings.minibatch_size:
        raise ValueError(
            f"finetune.batch_size ({settings.batch_size}) must be a multiple of "
            f"finetune.minibatch_size ({settings.minibatch_size})"
        )
    steps_per_epoch = math.ceil(len(train_ids) / settings.batch_size)
    total_steps = max(1, round(settings.epochs * steps_per_epoch))
    labels = torch.tensor(train_labels)

    def batch_for_step(step: int) -> list[Batch]:
        epoch, offset = divmod(step, steps_per_epoch)
        order = np.random.default_rng([seed, epoch]).permutation(len(train_ids))
        chosen = order[offset * settings.batch_size : (offset + 1) * settings.batch_size]
        micro = []
        for start in range(0, len(chosen), settings.minibatch_size):
            rows = chosen[start : start + settings.minibatch_size]
            batch = pad_batch([train_ids[i] for i in rows], tokenizer.pad_token_id, device)
            batch["labels"] = labels[rows].to(device)
            micro.append(batch)
        return micro

    optimizer = build_optimizer(model.parameters(), settings)
    scheduler = build_scheduler(optimizer, settings, total_steps)
    state = train(
        model,
        optimizer,
        scheduler,
        batch_for_step,
        classification_loss,
        total_steps,
        n_params,
        checkpoint,
        settings.checkpoint_seconds,
        log,
    )
    accuracy = clean_accuracy(
        model, val_ids, val_labels, tokenizer.pad_token_id, settings.eval_batch_size
    )
    log.info(
        "clean accuracy %.4f on %d validation examples after %.0fs",
        accuracy,
        len(val_ids),
        time.monotonic() - started,
    )
    metrics = {
        "clean_accuracy": accuracy,
        "n_val": len(val_ids),
        "n_val_dropped": val_dropped,
        "n_train": len(train_ids),
        "n_train_dropped": dropped,
        "steps": state.step,
        "loss_curve": state.losses,
        "training_flops": state.flops,
        "training_tokens": state.tokens,
        "n_params": n_params,
        "pretrain_flops": pretrain_flops,
    }
    save_model_dir(out_dir, model, tokenizer, metrics)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return metrics
