"""The offline family's pretraining job: one size as a causal LM on the task corpus."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from robustness_scaling.models.tiny import corpus_texts
from robustness_scaling.runtime import Runtime, get_logger, mixed_precision, setup_job
from robustness_scaling.training.loop import TRAIN_CHECKPOINT
from robustness_scaling.training.pretrain import PretrainSettings, pretrain


@dataclass(frozen=True, kw_only=True)
class Pretrain:
    """``size``: the size's GPT-NeoX config keys; ``resume``: the folder a killed job resumes
    from (bound to the job's settings by :func:`~robustness_scaling.jobs.entry.run_rule`)."""

    RESUME: ClassVar[str] = "resume"

    corpus: list[Path]
    include_instructions: list[bool]
    tokenizer: Path
    size: Mapping[str, Any]
    settings: PretrainSettings
    out: Path
    resume: Path

    def run(self, runtime: Runtime, log: str) -> None:
        setup_job(runtime.threads, seed=0)
        logger = get_logger("pretrain", log)
        with mixed_precision(runtime, logger):
            pretrain(
                corpus_texts(self.corpus, self.include_instructions),
                self.tokenizer,
                dict(self.size),
                self.out,
                self.settings,
                seed=0,
                device=runtime.device,
                dtype=runtime.dtype,
                checkpoint=self.resume / TRAIN_CHECKPOINT,
                log=logger,
            )
