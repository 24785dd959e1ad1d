"""One adversarial-training round (docs/method.md "Adversarial training"), resumable.

Read top to bottom: load round k−1's model and pool; attack ``examples_per_round`` clean
training examples with the current model; add every attacked example to the pool with its true
label (no success filter); sample the round's training set (adversarial share capped, by recency
and loss rank; the rest clean); train one epoch at a constant learning rate on the shared
resumable loop, recording each example's loss for the next round's loss rank; evaluate clean
accuracy; write the round directory atomically.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from robustness_scaling.adversarial_training.generation import (
    attack_seed,
    generate_adversarial_examples,
)
from robustness_scaling.adversarial_training.pool import (
    pool_examples,
    read_pool,
    sample_training_set,
    write_pool,
)
from robustness_scaling.adversarial_training.schedule import attack_iterations
from robustness_scaling.atomic import atomic_path, read_json
from robustness_scaling.attacks.resumable import AttackFiles
from robustness_scaling.finetune import CONTEXT_MARGIN, clean_accuracy, tokenize_examples
from robustness_scaling.models import load_classifier, load_tokenizer, pad_batch, save_model_dir
from robustness_scaling.runtime import PROGRESS
from robustness_scaling.tasks.base import Example, Placement, model_input, with_attack
from robustness_scaling.training import (
    Batch,
    OptimizerSettings,
    TrainState,
    build_optimizer,
    build_scheduler,
)
from robustness_scaling.training import train as train_loop

POOL_FILE = "pool.parquet"
EXAMPLES_FILE = "adversarial_examples.jsonl"
TRAIN_CHECKPOINT = "train.pt"
LOSSES_FILE = "training_losses.npy"


@dataclass(frozen=True)
class AdversarialTrainingSettings(OptimizerSettings):
    """Adversarial-training hyperparameters; the defaults are the paper's.

    Attributes:
        schedule: constant: every round is one epoch on a fresh mix, so a decaying rate would
            restart each round.
        batch_size, minibatch_size, eval_batch_size: effective batch (8), microbatch, and
            clean-accuracy batch.
        examples_per_round: training examples attacked each round (200).
        max_augmented_data_size: size of each round's training set (1000).
        adv_share: most of it that is adversarial (0.8); clean examples fill the rest.
        adv_sampling_decay: ``decay`` of the rank weighting exp(decay·(rank − max rank)).
        loss_rank_weight: ``w`` in rank = (1 − w)·time_rank + w·loss_rank (0.5).
        attack_name: the training attack's name in outputs (``gcg``, ``rt``, ...).
        attack_method: ``gcg``, ``random_token`` or ``beast``.
        attack_options: the attack's config options (the method's defaults are the paper's).
        attack_position: perturb position of the training attack; None uses the task's slot.
        ramp: grow the attack from ``ramp_start`` to ``ramp_end`` iterations over the rounds
            (GCG 8 → 64, RandomToken 1024 → 2048); False attacks at ``ramp_end`` every round.
        ramp_rounds: the round at which the ramp reaches ``ramp_end``; None: the last round.
        checkpoint_iterations: attack iterations between attack checkpoints (0: none).
        epochs_per_round: passes over the round's training set, each in a fresh order (the
            paper: 1). Training is cheap next to attacking, so small models that fit the
            adversarial examples slowly can take more passes per round of attacks. The passes
            are concatenated, so one batch may span two of them (and hold an example twice).
        fill_adv_share: fill the adversarial share from a smaller pool by repeating its
            examples (the paper: the share is capped by the pool). For short runs, whose pool
            stays small: a large round of mostly fresh clean examples keeps clean accuracy,
            and the repeats give the few attacked examples their weight.
    """

    schedule: str = "constant"
    batch_size: int = 8
    minibatch_size: int = 8
    eval_batch_size: int = 64
    examples_per_round: int = 200
    max_augmented_data_size: int = 1000
    adv_share: float = 0.8
    adv_sampling_decay: float = 0.005
    loss_rank_weight: float = 0.5
    attack_name: str = "gcg"
    attack_method: str = "gcg"
    attack_options: Mapping[str, Any] = field(default_factory=dict)
    attack_position: float | None = None
    ramp: bool = True
    ramp_start: int = 8
    ramp_end: int = 64
    ramp_rounds: int | None = None
    checkpoint_iterations: int = 0
    epochs_per_round: int = 1
    fill_adv_share: bool = False


def _new_pool_rows(
    round_index: int,
    chosen: np.ndarray,
    clean: list[Example],
    final: pd.DataFrame,
    placement: Placement,
) -> pd.DataFrame:
    """This round's adversarial examples as pool rows, with their true labels."""
    rows = []
    for index, example, attack in zip(chosen, clean, final.itertuples(), strict=True):
        adversarial = with_attack(example, placement, attack.attack_text)
        rows.append(
            {
                "round_added": round_index,
                "train_index": int(index),
                **adversarial.to_row(),
                "attack_text": attack.attack_text,
                "attack_success": bool(attack.success),
                "attack_loss": float(attack.loss),
                "latest_loss": math.inf,
            }
        )
    return pd.DataFrame(rows)


def _write_examples(path: Path, rows: pd.DataFrame) -> None:
    with path.open("w") as handle:
        for row in rows.drop(columns="latest_loss").to_dict("records"):
            handle.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")


def _train_in_order(
    model: torch.nn.Module,
    sequences: list[list[int]],
    labels: list[int],
    settings: AdversarialTrainingSettings,
    pad_token_id: int,
    resume: Path | None,
    log: logging.Logger,
) -> tuple[TrainState, np.ndarray]:
    """One pass over ``sequences`` in the given order; also each example's training loss.

    The losses feed the next round's loss rank. They are saved before the step's checkpoint can
    be, so a resumed run knows those of the steps it does not redo.
    """
    device = next(model.parameters()).device
    targets = torch.tensor(labels)
    losses = np.full(len(sequences), np.nan)
    losses_path = None if resume is None else resume / LOSSES_FILE
    if losses_path is not None and losses_path.exists():
        losses = np.load(losses_path)

    def batch_for_step(step: int) -> list[Batch]:
        first = step * settings.batch_size
        step_rows = np.arange(first, min(first + settings.batch_size, len(sequences)))
        micro = []
        for start in range(0, len(step_rows), settings.minibatch_size):
            rows = step_rows[start : start + settings.minibatch_size]
            batch = pad_batch([sequences[i] for i in rows], pad_token_id, device)
            batch["labels"] = targets[rows].to(device)
            batch["rows"] = torch.as_tensor(rows)
            micro.append(batch)
        return micro

    def loss_fn(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        per_example = F.cross_entropy(logits.float(), batch["labels"], reduction="none")
        losses[batch["rows"].numpy()] = per_example.detach().cpu().double().numpy()
        if losses_path is not None:
            with atomic_path(losses_path) as tmp, tmp.open("wb") as handle:
                np.save(handle, losses)
        return per_example.mean()

    total_steps = math.ceil(len(sequences) / settings.batch_size)
    optimizer = build_optimizer(model.parameters(), settings)
    state = train_loop(
        model,
        optimizer,
        build_scheduler(optimizer, settings, total_steps),
        batch_for_step,
        loss_fn,
        total_steps,
        model.num_parameters(),
        None if resume is None else resume / TRAIN_CHECKPOINT,
        settings.checkpoint_seconds,
        log,
    )
    return state, losses


def adversarial_round(
    round_index: int,
    n_rounds: int,
    previous_dir: str | Path,
    train_examples: list[Example],
    validation_examples: list[Example],
    out_dir: str | Path,
    settings: AdversarialTrainingSettings,
    *,
    placement: Placement,
    include_instructions: bool,
    seed: int,
    sampler: torch.nn.Module | None,
    device: torch.device,
    dtype: torch.dtype,
    resume: Path | None,
    log: logging.Logger,
) -> dict[str, Any]:
    """Make round ``round_index`` (1..n_rounds) from round k−1's model directory.

    ``previous_dir`` is round k−1's directory (round 0: the finetuned model; later rounds also
    hold ``pool.parquet``), ``train_examples`` the first n_train clean training examples,
    ``sampler`` BEAST's proposal LM (beast only), ``resume`` a folder for this round's
    checkpoints (removed on success). Writes ``out_dir`` with the model, tokenizer,
    ``metrics.json``, ``adversarial_examples.jsonl`` and ``pool.parquet``; returns the metrics.
    """
    started = time.monotonic()
    previous_dir = Path(previous_dir)
    previous = read_json(previous_dir / "metrics.json")
    if round_index > 1 and not (previous_dir / POOL_FILE).is_file():
        raise ValueError(
            f"round {round_index} needs round {round_index - 1}'s pool, not found in {previous_dir}"
        )
    if settings.examples_per_round > len(train_examples):
        raise ValueError(
            f"examples_per_round ({settings.examples_per_round}) exceeds the "
            f"{len(train_examples)} training examples (n_train) to draw from"
        )
    if settings.batch_size % settings.minibatch_size:
        raise ValueError(
            f"batch_size ({settings.batch_size}) must be a multiple of "
            f"minibatch_size ({settings.minibatch_size})"
        )
    tokenizer = load_tokenizer(previous_dir)
    model = load_classifier(previous_dir, tokenizer.pad_token_id, dtype, device).eval()
    n_params = model.num_parameters()

    # Attack this round's examples with the current model.
    rng = np.random.default_rng([seed, round_index])
    chosen = rng.choice(len(train_examples), size=settings.examples_per_round, replace=False)
    clean = [train_examples[i] for i in chosen]
    iterations = attack_iterations(
        round_index,
        n_rounds,
        settings.ramp_start,
        settings.ramp_end,
        settings.ramp,
        settings.ramp_rounds,
    )
    options = dict(settings.attack_options)
    options["seed"] = attack_seed(options.get("seed", 0), seed, round_index)
    log.info(
        "round %d/%d: %s with %d iterations on %d training examples",
        round_index,
        n_rounds,
        settings.attack_name,
        iterations,
        len(clean),
        extra=PROGRESS,
    )
    final, generation_flops = generate_adversarial_examples(
        model,
        tokenizer,
        clean,
        chosen.tolist(),
        placement,
        include_instructions,
        settings.attack_method,
        options,
        iterations,
        sampler,
        settings.checkpoint_iterations,
        resume,
        log,
    )
    new_rows = _new_pool_rows(round_index, chosen, clean, final, placement)
    pool = new_rows
    if round_index > 1:
        pool = pd.concat([read_pool(previous_dir / POOL_FILE), new_rows], ignore_index=True)

    # The round's training set: sampled adversarial rows, then clean examples, shuffled.
    adversarial, clean_rows = sample_training_set(
        pool,
        len(train_examples),
        settings.max_augmented_data_size,
        settings.adv_share,
        settings.adv_sampling_decay,
        settings.loss_rank_weight,
        rng,
        settings.fill_adv_share,
    )
    examples = pool_examples(pool, adversarial) + [train_examples[i] for i in clean_rows]
    source = np.concatenate([adversarial, np.full(len(clean_rows), -1)])  # pool row or -1
    max_tokens = model.config.max_position_embeddings - CONTEXT_MARGIN
    encoded = tokenizer(
        [model_input(e, include_instructions) for e in examples], add_special_tokens=False
    )["input_ids"]
    kept = np.array([i for i, ids in enumerate(encoded) if len(ids) <= max_tokens], dtype=int)
    order = np.concatenate(
        [kept[rng.permutation(len(kept))] for _ in range(settings.epochs_per_round)]
    )
    state, losses = _train_in_order(
        model,
        [encoded[i] for i in order],
        [examples[i].clf_label for i in order],
        settings,
        tokenizer.pad_token_id,
        resume,
        log,
    )
    latest = pool["latest_loss"].to_numpy(np.float64).copy()
    for position, example in enumerate(order):  # in training order: a pool row's latest loss
        if source[example] >= 0 and not np.isnan(losses[position]):
            latest[source[example]] = losses[position]
    pool["latest_loss"] = latest

    val_ids, val_labels, val_dropped = tokenize_examples(
        tokenizer, validation_examples, include_instructions, max_tokens
    )
    accuracy = clean_accuracy(
        model, val_ids, val_labels, tokenizer.pad_token_id, settings.eval_batch_size
    )
    metrics = {
        "round": round_index,
        "clean_accuracy": accuracy,
        "n_val": len(val_ids),
        "n_val_dropped": val_dropped,
        "attack": settings.attack_name,
        "attack_iterations": iterations,
        "adversarial_success_rate": float(final["success"].mean()),
        "pool_size": len(pool),
        "n_adv": len(adversarial),
        "n_clean": len(clean_rows),
        "n_train_dropped": len(examples) - len(kept),
        "steps": state.step,
        "loss_curve": state.losses,
        "training_flops": state.flops,
        "training_tokens": state.tokens,
        "adversarial_generation_flops": generation_flops,
        "defense_flops_cumulative": previous.get("defense_flops_cumulative", 0)
        + state.flops
        + generation_flops,
        "n_params": n_params,
        "pretrain_flops": previous["pretrain_flops"],
    }
    log.info(
        "round %d: clean accuracy %.4f, pool %d, %d adversarial + %d clean, %.0fs",
        round_index,
        accuracy,
        len(pool),
        len(adversarial),
        len(clean_rows),
        time.monotonic() - started,
        extra=PROGRESS,
    )

    def pool_and_examples(folder: Path) -> None:
        write_pool(pool, folder / POOL_FILE)
        _write_examples(folder / EXAMPLES_FILE, new_rows)

    save_model_dir(out_dir, model, tokenizer, metrics, extra=pool_and_examples)
    if resume is not None:
        AttackFiles.checkpoint_in(resume).remove()
        for name in (LOSSES_FILE, TRAIN_CHECKPOINT):
            (resume / name).unlink(missing_ok=True)
    return metrics
