"""Entry point of the finetune stage."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustness_scaling.atomic import read_json
from robustness_scaling.by_name import generation_check
from robustness_scaling.families import HUB_FAMILIES
from robustness_scaling.finetune import FinetuneSettings, evaluate_as_is, finetune
from robustness_scaling.runtime import (
    get_logger,
    mixed_precision,
    resolve_device,
    resolve_dtype,
    setup_job,
)
from robustness_scaling.splits import read_split
from robustness_scaling.tasks import get_task


def pretrain_flops_of(family: str, size: str, model_dir: Path | None) -> int:
    """Pretraining compute: counted by our pretraining stage, or the hub family's 6·N·D."""
    if family in HUB_FAMILIES:
        return HUB_FAMILIES[family].sizes[size].pretrain_flops
    return int(read_json(Path(model_dir) / "metrics.json")["pretrain_flops"])


def finetune_cell(
    family: str,
    size: str,
    task: str,
    seed: int,
    model_source: str,
    train: Path,
    validation: Path,
    task_settings: Mapping[str, Any],
    settings: Mapping[str, Any],
    runtime: Mapping[str, Any],
    out: Path,
    checkpoint: Path,
    threads: int,
    log: str,
) -> None:
    """Finetune one family × size × task × seed cell into its round-0 model directory.

    A task set to ``finetune: false`` (StrongREJECT's instruct victims) is evaluated as it comes:
    the directory then only names the source model and holds its metrics.
    """
    setup_job(threads, seed)
    local = Path(model_source)
    device, dtype = resolve_device(runtime["device"]), resolve_dtype(runtime["dtype"])
    check = generation_check(get_task(task), task_settings, device, dtype)
    validation_examples = read_split(validation, settings["n_val"])
    flops = pretrain_flops_of(family, size, local if local.is_dir() else None)
    logger = get_logger("finetune", log)
    with mixed_precision(runtime, logger):
        if not task_settings.get("finetune", True):
            evaluate_as_is(
                validation_examples,
                model_source,
                out,
                include_instructions=task_settings["include_instructions"],
                device=device,
                dtype=dtype,
                pretrain_flops=flops,
                check=check,
                log=logger,
            )
            return
        finetune(
            read_split(train, settings["n_train"]),
            validation_examples,
            model_source,
            out,
            FinetuneSettings.from_config(settings),
            include_instructions=task_settings["include_instructions"],
            seed=seed,
            device=device,
            dtype=dtype,
            checkpoint=checkpoint,
            pretrain_flops=flops,
            log=logger,
            check=check,
        )
