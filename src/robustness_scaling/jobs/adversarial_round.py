"""The adversarial-training job: one round, or a block of consecutive rounds, of one cell."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from robustness_scaling.adversarial_training.round import adversarial_round
from robustness_scaling.adversarial_training.settings import AdversarialTrainingSettings
from robustness_scaling.models.load import load_causal_lm
from robustness_scaling.runtime import Runtime, get_logger, mixed_precision, setup_job
from robustness_scaling.splits import read_split
from robustness_scaling.tasks import Placement, get_task


@dataclass(frozen=True, kw_only=True)
class AdversarialRounds:
    """Make ``rounds`` (consecutive) of one cell, each from the one before, starting from
    ``previous`` (round k−1's directory); ``outs`` and ``resume`` are each round's directory
    and checkpoint folder, in order. Rounds draw from the first ``n_train`` clean training
    examples and report clean accuracy on the first ``n_val`` validation examples (the
    finetuning's); ``sampler`` is BEAST's proposal LM, for a BEAST-trained study only.
    Shardable over several GPUs (``SHARDS``)."""

    SHARDS: ClassVar[bool] = True
    RESUME: ClassVar[str] = "resume"

    task: str
    seed: int
    rounds: list[int]
    settings: AdversarialTrainingSettings
    n_train: int
    n_val: int
    task_settings: Mapping[str, Any]
    sampler: str | None
    previous: Path
    train: Path
    validation: Path
    outs: list[Path]
    resume: list[Path]

    def run(self, runtime: Runtime, log: str) -> None:
        position = self.settings.attack_position
        placement = (
            get_task(self.task).placement if position is None else Placement(position=position)
        )
        logger = get_logger("adversarial_training", log)
        train = read_split(self.train, self.n_train)
        validation = read_split(self.validation, self.n_val)
        sampler = (
            None
            if self.sampler is None
            else load_causal_lm(self.sampler, runtime.dtype, runtime.device)
        )
        previous = self.previous
        with mixed_precision(runtime, logger):
            for k, out, resume in zip(self.rounds, self.outs, self.resume, strict=True):
                setup_job(runtime.threads, self.seed)  # a round runs alike alone or in a block
                adversarial_round(
                    k,
                    previous,
                    train,
                    validation,
                    out,
                    self.settings,
                    placement=placement,
                    include_instructions=self.task_settings["include_instructions"],
                    seed=self.seed,
                    sampler=sampler,
                    device=runtime.device,
                    dtype=runtime.dtype,
                    resume=resume,
                    log=logger,
                )
                previous = out
