"""Entry point of the attack stage: one attack's budget ladder on one model."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustness_scaling.attack_stage import AttackCell, run_attack_cell
from robustness_scaling.attacks.resumable import AttackFiles
from robustness_scaling.binding import binding_key
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
    sampler: str | None,
    metadata: Mapping[str, Any],
    runtime: Mapping[str, Any],
    outs: Mapping[int, tuple[Path, Path]],
    resume: Path,
    store: Path,
    binding: Mapping[str, Any],
    threads: int,
    log: str,
) -> None:
    """Run one attack on one model up to each of its budgets (records + state per budget).

    ``outs`` maps each budget to its output files; ``binding`` is everything the results depend
    on besides the input files (the job's params), which with the inputs' identity keys the
    store of finished budgets and the resume checkpoint.
    """
    setup_job(threads, seed=attack["options"].get("seed", 0))
    cell = AttackCell(
        name=attack_name,
        method=attack["method"],
        options=attack["options"],
        position=attack.get("position"),
        n_val=attack["n_val"],
        checkpoint_iterations=attack["checkpoint_iterations"],
    )
    inputs = [model_dir, validation, *([sampler] if sampler else [])]
    logger = get_logger("attack", log)
    with mixed_precision(runtime, logger):
        run_attack_cell(
            cell,
            task,
            read_split(validation, cell.n_val),
            task_settings,
            model_dir,
            {budget: AttackFiles(*files) for budget, files in outs.items()},
            sampler,
            metadata,
            resume=resume,
            store=store,
            key=binding_key(binding, inputs),
            device=resolve_device(runtime["device"]),
            dtype=resolve_dtype(runtime["dtype"]),
            log=logger,
        )
