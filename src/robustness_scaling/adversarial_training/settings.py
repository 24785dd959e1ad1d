"""The adversarial-training hyperparameters, one frozen settings object per study."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from robustness_scaling.training.loop import OptimizerSettings


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
        ramp_rounds: the round at which the ramp reaches ``ramp_end``; with the ramp on it must
            be set (the workflow sets it to the last round unless pinned:
            :func:`~robustness_scaling.adversarial_training.schedule.ramp_horizon`).
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
