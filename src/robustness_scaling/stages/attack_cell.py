"""Entry point of the attack stage."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustness_scaling.attack_stage import AttackCell, run_attack_cell
from robustness_scaling.runtime import (
    get_logger,
    mixed_precision,
    resolve_device,
    resolve_dtype,
    setup_job,
)
from robustness_scaling.splits import read_split


def attack_cell(
    attack: Mapping[str, Any],
    attack_name: str,
    task: str,
    task_settings: Mapping[str, Any],
    model_dir: Path,
    validation: Path,
    budget: int,
    previous: tuple[Path, Path] | None,
    sampler: str | None,
    metadata: Mapping[str, Any],
    runtime: Mapping[str, Any],
    out: tuple[Path, Path],
    resume: Path,
    threads: int,
    log: str,
) -> None:
    """Run one attack on one model up to ``budget`` iterations (records + resume state)."""
    setup_job(threads, seed=attack["options"].get("seed", 0))
    cell = AttackCell(
        name=attack_name,
        method=attack["method"],
        options=attack["options"],
        position=attack.get("position"),
        n_val=attack["n_val"],
        checkpoint_iterations=attack["checkpoint_iterations"],
    )
    logger = get_logger("attack", log)
    with mixed_precision(runtime, logger):
        run_attack_cell(
            cell,
            task,
            read_split(validation, cell.n_val),
            task_settings,
            model_dir,
            budget,
            previous,
            sampler,
            out,
            resume,
            metadata,
            device=resolve_device(runtime["device"]),
            dtype=resolve_dtype(runtime["dtype"]),
            log=logger,
        )
