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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from robustness_scaling.adversarial_training.examples import (
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
from robustness_scaling.adversarial_training.settings import AdversarialTrainingSettings
from robustness_scaling.atomic import atomic_path, read_json
from robustness_scaling.attacks.resumable import AttackFiles
from robustness_scaling.models.load import load_classifier, load_tokenizer, pad_batch
from robustness_scaling.runtime import PROGRESS
from robustness_scaling.tasks.base import Example, Placement, with_attack
from robustness_scaling.training.classify import (
    classification_loss,
    clean_accuracy,
    context_limit,
    fitting_prompts,
    tokenize_examples,
)
from robustness_scaling.training.loop import (
    TRAIN_CHECKPOINT,
    Batch,
    TrainState,
    build_optimizer,
    build_scheduler,
    remove_checkpoint,
)
from robustness_scaling.training.loop import train as train_loop
from robustness_scaling.training.sharded import (
    current_world,
    gathered_losses,
    loading_device,
    root_gathered,
    save_trained,
    shard,
)

POOL_FILE = "pool.parquet"
EXAMPLES_FILE = "adversarial_examples.jsonl"
LOSSES_FILE = "training_losses.npy"


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
    be, so a resumed run knows those of the steps it does not redo; in a sharded job each rank
    saves those of its slices, and they are gathered at the end.
    """
    world = current_world()
    device = next(model.parameters()).device
    targets = torch.tensor(labels)
    losses = np.full(len(sequences), np.nan)
    losses_name = LOSSES_FILE if not world.sharded else f"rank{world.rank}.{LOSSES_FILE}"
    losses_path = None if resume is None else resume / losses_name
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
        per_example = classification_loss(model, batch, reduction="none")
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
        settings.activation_checkpointing,
    )
    if world.sharded:
        losses = gathered_losses(losses)
    return state, losses


def adversarial_round(
    round_index: int,
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
    """Make round ``round_index`` (1, 2, ...) from round k−1's model directory.

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
    world = current_world()
    tokenizer = load_tokenizer(previous_dir)
    model = load_classifier(
        previous_dir, tokenizer.pad_token_id, dtype, loading_device(device)
    ).eval()
    n_params = model.num_parameters()
    if world.sharded:
        shard(model)

    # Attack this round's examples with the current model.
    rng = np.random.default_rng([seed, round_index])
    chosen = rng.choice(len(train_examples), size=settings.examples_per_round, replace=False)
    clean = [train_examples[i] for i in chosen]
    iterations = attack_iterations(
        round_index,
        settings.ramp_start,
        settings.ramp_end,
        ramp=settings.ramp,
        horizon=settings.ramp_rounds,
    )
    options = dict(settings.attack_options)
    options["seed"] = attack_seed(options.get("seed", 0), seed, round_index)
    log.info(
        "round %d: %s with %d iterations on %d training examples",
        round_index,
        settings.attack_name,
        iterations,
        len(clean),
        extra=PROGRESS,
    )
    with root_gathered(model):  # the attack calls the embedding and head on their own
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
    max_tokens = context_limit(model)
    encoded, fitting = fitting_prompts(tokenizer, examples, include_instructions, max_tokens)
    kept = np.array(fitting, dtype=int)
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

    save_trained(out_dir, model, tokenizer, metrics, extra=pool_and_examples)
    if resume is not None:
        remove_checkpoint(resume / TRAIN_CHECKPOINT)
        if world.leader:
            AttackFiles.checkpoint_in(resume).remove()
            for losses in resume.glob(f"*{LOSSES_FILE}"):
                losses.unlink()
    return metrics
