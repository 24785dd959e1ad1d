"""The finetune job: one family × size × task × seed cell's round-0 model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from robustness_scaling.atomic import read_json
from robustness_scaling.by_name import generation_check
from robustness_scaling.models.families import HUB_FAMILIES
from robustness_scaling.runtime import Runtime, get_logger, mixed_precision, setup_job
from robustness_scaling.splits import read_split
from robustness_scaling.tasks import get_task
from robustness_scaling.training.finetune import FinetuneSettings, evaluate_as_is, finetune
from robustness_scaling.training.loop import TRAIN_CHECKPOINT


def pretrain_flops_of(family: str, size: str, model_dir: Path | None) -> int:
    """Pretraining compute: counted by our pretraining stage, or the hub family's 6·N·D."""
    if family in HUB_FAMILIES:
        return HUB_FAMILIES[family].sizes[size].pretrain_flops
    return int(read_json(Path(model_dir) / "metrics.json")["pretrain_flops"])


@dataclass(frozen=True, kw_only=True)
class Finetune:
    """``model_source``: a hub name or a pretrained directory; ``task_settings``: the task's
    keys finetuning reads (instructions, ``finetune``, a generation task's judge);
    ``n_train`` / ``n_val``: how many of each split's first examples it trains and validates
    on. A task set to ``finetune: false`` (StrongREJECT's instruct victims) is evaluated as it
    comes: the directory then only names the source model and holds its metrics. Shardable
    over several GPUs (``SHARDS``); ``resume`` is the folder a killed job resumes from."""

    SHARDS: ClassVar[bool] = True
    RESUME: ClassVar[str] = "resume"

    family: str
    size: str
    task: str
    seed: int
    model_source: str
    task_settings: Mapping[str, Any]
    settings: FinetuneSettings
    n_train: int
    n_val: int
    train: Path
    validation: Path
    out: Path
    resume: Path

    def run(self, runtime: Runtime, log: str) -> None:
        setup_job(runtime.threads, self.seed)
        local = Path(self.model_source)
        check = generation_check(
            get_task(self.task),
            {**self.task_settings, "generation_batch_size": runtime.generation_batch_size},
            runtime.device,
            runtime.dtype,
        )
        validation = read_split(self.validation, self.n_val)
        flops = pretrain_flops_of(self.family, self.size, local if local.is_dir() else None)
        include_instructions = self.task_settings["include_instructions"]
        logger = get_logger("finetune", log)
        with mixed_precision(runtime, logger):
            if not self.task_settings.get("finetune", True):
                evaluate_as_is(
                    validation,
                    self.model_source,
                    self.out,
                    include_instructions=include_instructions,
                    device=runtime.device,
                    dtype=runtime.dtype,
                    pretrain_flops=flops,
                    check=check,
                    log=logger,
                )
                return
            finetune(
                read_split(self.train, self.n_train),
                validation,
                self.model_source,
                self.out,
                self.settings,
                include_instructions=include_instructions,
                seed=self.seed,
                device=runtime.device,
                dtype=runtime.dtype,
                checkpoint=self.resume / TRAIN_CHECKPOINT,
                pretrain_flops=flops,
                log=logger,
                check=check,
            )
