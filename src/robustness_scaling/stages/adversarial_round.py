"""Entry point of the adversarial-training stage: one round of one cell."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustness_scaling.adversarial_training.training_round import (
    AdversarialTrainingSettings,
    adversarial_round,
)
from robustness_scaling.models import load_causal_lm
from robustness_scaling.runtime import (
    get_logger,
    mixed_precision,
    resolve_device,
    resolve_dtype,
    setup_job,
)
from robustness_scaling.splits import read_split
from robustness_scaling.tasks import Placement, get_task


def adversarial_round_cell(
    round_index: int,
    n_rounds: int,
    task: str,
    seed: int,
    previous: Path,
    train: Path,
    validation: Path,
    task_settings: Mapping[str, Any],
    settings: Mapping[str, Any],
    sampler: str | None,
    runtime: Mapping[str, Any],
    out: Path,
    resume: Path,
    threads: int,
    log: str,
) -> None:
    """Make round ``round_index`` of ``n_rounds`` of one family × size × task × seed cell.

    ``previous`` is round k−1's directory, ``settings`` the adversarial-training config slice:
    the keys of :class:`AdversarialTrainingSettings` plus ``n_train`` (clean training examples
    to draw from) and ``n_val`` (validation examples for clean accuracy). ``sampler`` is
    BEAST's proposal LM (hub name or directory), needed only when the training attack is beast.
    """
    setup_job(threads, seed)
    parsed = AdversarialTrainingSettings.from_config(settings)
    placement = (
        get_task(task).placement
        if parsed.attack_position is None
        else Placement(position=parsed.attack_position)
    )
    device, dtype = resolve_device(runtime["device"]), resolve_dtype(runtime["dtype"])
    logger = get_logger("adversarial_training", log)
    with mixed_precision(runtime, logger):
        adversarial_round(
            round_index,
            n_rounds,
            previous,
            read_split(train, settings["n_train"]),
            read_split(validation, settings["n_val"]),
            out,
            parsed,
            placement=placement,
            include_instructions=task_settings["include_instructions"],
            seed=seed,
            sampler=None if sampler is None else load_causal_lm(sampler, dtype, device),
            device=device,
            dtype=dtype,
            resume=resume,
            log=logger,
        )
