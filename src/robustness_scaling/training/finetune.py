"""Full finetuning of a victim (docs/method.md "Models and finetuning"), resumable.

A classification task trains a two-class sequence classifier; a generation task trains the
causal LM to write the answer (``gen_target`` then end-of-text), with the loss on the answer
tokens only, and scores it by judging its greedy answers. Read top to bottom: tokenize the task,
build the optimizer and schedule, run the shared resumable loop over a seeded data order,
evaluate clean accuracy, save weights and metrics.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from robustness_scaling.atomic import atomic_path, write_json
from robustness_scaling.errors import InputError
from robustness_scaling.models.load import (
    load_causal_lm,
    load_classifier,
    load_tokenizer,
    pad_batch,
)
from robustness_scaling.runtime import PROGRESS, provenance
from robustness_scaling.tasks import Example, model_input
from robustness_scaling.training.classify import (
    classification_loss,
    clean_accuracy,
    context_limit,
    fitting_examples,
    tokenize_examples,
)
from robustness_scaling.training.loop import (
    Batch,
    OptimizerSettings,
    build_optimizer,
    build_scheduler,
    remove_checkpoint,
    train,
)
from robustness_scaling.training.sharded import (
    current_world,
    loading_device,
    save_trained,
    shard,
)

if TYPE_CHECKING:
    from robustness_scaling.generative.answers import GenerationCheck


@dataclass(frozen=True)
class FinetuneSettings(OptimizerSettings):
    """The finetuning hyperparameters; the paper's are Adafactor, lr 1e-5, linear, 3 epochs, 8."""

    epochs: float = 3
    batch_size: int = 8
    minibatch_size: int = 8
    eval_batch_size: int = 64


def tokenize_answers(
    tokenizer: Any, examples: list[Example], include_instructions: bool, max_tokens: int
) -> tuple[list[list[int]], list[int], int]:
    """Prompt + answer + end-of-text ids of the examples that fit, where each answer starts,
    and how many were dropped. Prompt and answer are tokenized apart, as generation sees them."""
    prompts = tokenizer(
        [model_input(e, include_instructions) for e in examples], add_special_tokens=True
    )["input_ids"]
    answers = tokenizer([e.gen_target for e in examples], add_special_tokens=False)["input_ids"]
    rows = [p + a + [tokenizer.eos_token_id] for p, a in zip(prompts, answers, strict=True)]
    kept = [i for i, ids in enumerate(rows) if len(ids) <= max_tokens]
    return [rows[i] for i in kept], [len(prompts[i]) for i in kept], len(examples) - len(kept)


def answer_loss(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """Mean next-token cross-entropy over the answer tokens (prompt and padding ignored)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return F.cross_entropy(
        logits[:, :-1].float().flatten(0, 1), batch["labels"][:, 1:].flatten(), ignore_index=-100
    )


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
    check: GenerationCheck | None = None,
) -> dict[str, Any]:
    """Finetune ``model_source`` on the task and write the model directory ``out_dir``.

    With a generation ``check`` the victim is a causal LM taught to write each example's
    ``gen_target``, and its accuracy is the judge's verdict on its greedy answers. The directory
    holds safetensors weights, the tokenizer and ``metrics.json``; it appears atomically.
    Returns the metrics.
    """
    started = time.monotonic()
    if not train_examples:
        raise ValueError(
            "no training examples to finetune on; a task without a train split (StrongREJECT) "
            "is evaluated as it comes: set its `finetune: false`"
        )
    torch.manual_seed(seed)  # the fresh score head's initialisation, the same on every rank
    world = current_world()
    tokenizer = load_tokenizer(model_source)
    pad = tokenizer.pad_token_id
    load_on = loading_device(device)
    if check is None:
        model = load_classifier(model_source, pad, dtype, load_on)
        tokenize, loss_fn = tokenize_examples, classification_loss
    else:
        model = load_causal_lm(model_source, dtype, load_on)
        tokenize, loss_fn = tokenize_answers, answer_loss
    n_params = model.num_parameters()
    if world.sharded:
        shard(model)
        log.info("sharded over %d processes (FSDP2)", world.size)
    max_tokens = context_limit(model)
    # Class labels, or where each answer starts (generation): what the loss needs per row.
    train_ids, train_targets, dropped = tokenize(
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
    for split, kept, lost in (
        ("training", train_ids, dropped),
        ("validation", val_ids, val_dropped),
    ):
        if not kept:
            raise InputError(
                f"none of the {lost} {split} examples fits the model's context ({max_tokens} "
                f"tokens): nothing to {'finetune' if split == 'training' else 'validate'} on"
            )
    if settings.batch_size % settings.minibatch_size:
        raise ValueError(
            f"finetune.batch_size ({settings.batch_size}) must be a multiple of "
            f"finetune.minibatch_size ({settings.minibatch_size})"
        )
    steps_per_epoch = math.ceil(len(train_ids) / settings.batch_size)
    total_steps = max(1, round(settings.epochs * steps_per_epoch))
    targets = torch.tensor(train_targets)

    def encode(rows: np.ndarray) -> Batch:
        batch = pad_batch([train_ids[i] for i in rows], pad, device)
        if check is None:
            batch["labels"] = targets[rows].to(device)
            return batch
        width = batch["input_ids"].shape[1]
        answer = torch.arange(width, device=device)[None, :] >= targets[rows].to(device)[:, None]
        keep = answer & batch["attention_mask"].bool()
        batch["labels"] = batch["input_ids"].masked_fill(~keep, -100)
        return batch

    def batch_for_step(step: int) -> list[Batch]:
        epoch, offset = divmod(step, steps_per_epoch)
        order = np.random.default_rng([seed, epoch]).permutation(len(train_ids))
        chosen = order[offset * settings.batch_size : (offset + 1) * settings.batch_size]
        return [
            encode(chosen[start : start + settings.minibatch_size])
            for start in range(0, len(chosen), settings.minibatch_size)
        ]

    optimizer = build_optimizer(model.parameters(), settings)
    scheduler = build_scheduler(optimizer, settings, total_steps)
    state = train(
        model,
        optimizer,
        scheduler,
        batch_for_step,
        loss_fn,
        total_steps,
        n_params,
        checkpoint,
        settings.checkpoint_seconds,
        log,
        settings.activation_checkpointing,
    )
    if check is None:
        accuracy = clean_accuracy(model, val_ids, val_labels, pad, settings.eval_batch_size)
    else:
        fits = fitting_examples(tokenizer, validation_examples, include_instructions, max_tokens)
        accuracy = answer_accuracy(model, tokenizer, fits, include_instructions, check)
    log.info(
        "clean accuracy %.4f on %d validation examples after %.0fs",
        accuracy,
        len(val_ids),
        time.monotonic() - started,
        extra=PROGRESS,
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
    if check is not None:
        metrics["judge"] = check.judge.name
    save_trained(out_dir, model, tokenizer, metrics)
    remove_checkpoint(checkpoint)
    return metrics


def answer_accuracy(
    model: torch.nn.Module,
    tokenizer: Any,
    examples: list[Example],
    include_instructions: bool,
    check: GenerationCheck,
) -> float:
    """Fraction of the examples whose greedy answer the judge finds correct."""
    if not examples:
        raise InputError("no validation examples to judge: the split is empty")
    return float(check.answers_correctly(model, tokenizer, examples, include_instructions).mean())


def evaluate_as_is(
    validation_examples: list[Example],
    model_source: str | Path,
    out_dir: str | Path,
    *,
    include_instructions: bool,
    device: torch.device,
    dtype: torch.dtype,
    pretrain_flops: int,
    check: GenerationCheck | None,
    log: logging.Logger,
) -> dict[str, Any]:
    """Round 0 of a victim used as it comes (an instruct model on StrongREJECT): no weights are
    copied; ``out_dir`` holds ``metrics.json`` naming ``model_source``, which the loaders follow.
    """
    if check is None:
        raise ValueError("only generation tasks can skip finetuning (`finetune: false`)")
    tokenizer = load_tokenizer(model_source)
    model = load_causal_lm(model_source, dtype, device)
    accuracy = answer_accuracy(model, tokenizer, validation_examples, include_instructions, check)
    log.info(
        "%s used as it comes: clean accuracy %.4f on %d validation examples (judge %s)",
        model_source,
        accuracy,
        len(validation_examples),
        check.judge.name,
    )
    metrics = {
        "model_source": str(model_source),
        "clean_accuracy": accuracy,
        "n_val": len(validation_examples),
        "training_flops": 0,
        "n_params": model.num_parameters(),
        "pretrain_flops": pretrain_flops,
        "judge": check.judge.name,
        "provenance": provenance(model),
    }
    with atomic_path(out_dir) as tmp:
        write_json(tmp / "metrics.json", metrics)
    return metrics
