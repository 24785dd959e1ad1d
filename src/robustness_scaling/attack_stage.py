"""The attack stage: one attack on one model at one compute budget, resumable and incremental.

A budget is a number of iterations. The cell at budget c continues from the state of the next
smaller budget, so adding a larger budget computes only the increment; because attacks continue
exactly, the result is identical to a fresh run of c iterations. Inside a cell, progress is
checkpointed every ``checkpoint_iterations`` so a killed job resumes where it stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from robustness_scaling.atomic import atomic_path
from robustness_scaling.attacks import AttackState, build_attack, correctly_classified
from robustness_scaling.generation import generation_check
from robustness_scaling.models import load_causal_lm, load_classifier, load_tokenizer
from robustness_scaling.runtime import PROGRESS, provenance
from robustness_scaling.tasks import Example, Placement, get_task


@dataclass(frozen=True)
class AttackCell:
    """What one attack cell runs: which attack, where its text goes, on how many examples."""

    name: str
    method: str
    options: Mapping[str, Any]
    position: float | None
    n_val: int
    checkpoint_iterations: int = 0

    def placement(self, task: str) -> Placement:
        """The task's own slot, unless the attack config names a perturb position."""
        if self.position is None:
            return get_task(task).placement
        return Placement(position=self.position)


def _save(records: pd.DataFrame, state: AttackState | None, parquet: Path, state_path: Path):
    with atomic_path(parquet) as tmp:
        records.to_parquet(tmp, index=False)
    with atomic_path(state_path) as tmp:
        torch.save(None if state is None else state.__dict__, tmp)


def _load(parquet: Path, state_path: Path) -> tuple[pd.DataFrame, AttackState | None]:
    saved = torch.load(state_path, weights_only=True)
    return pd.read_parquet(parquet), None if saved is None else AttackState(**saved)


def run_attack_cell(
    cell: AttackCell,
    task: str,
    examples: list[Example],
    task_settings: Mapping[str, Any],
    model_dir: str | Path,
    budget: int,
    previous: tuple[Path, Path] | None,
    sampler_source: str | None,
    out: tuple[Path, Path],
    resume: Path,
    metadata: Mapping[str, Any],
    *,
    device: torch.device,
    dtype: torch.dtype,
    log: logging.Logger,
) -> pd.DataFrame:
    """Attack the correctly classified ``examples`` up to ``budget`` iterations.

    ``previous`` is the (records, state) of the next smaller budget, ``out`` this budget's, and
    ``resume`` a folder for in-cell checkpoints. Returns the records of iterations 0..budget,
    with ``metadata`` columns (the cell's family, size, task, seed, round, ...) added.

    A generation task's victim is a causal LM whose greedy answers a judge decides
    (``task_settings``: ``max_new_tokens``, ``judge``); only correctly answered examples of the
    task's attacked labels (``attacked_labels``, default the task's) are attacked.
    """
    started = time.monotonic()
    spec = get_task(task)
    include_instructions = task_settings["include_instructions"]
    check = generation_check(spec, task_settings, device, dtype)
    tokenizer = load_tokenizer(model_dir)
    if spec.is_generation:
        model = load_causal_lm(model_dir, dtype, device)
    else:
        model = load_classifier(model_dir, tokenizer.pad_token_id, dtype, device).eval()
    sampler = load_causal_lm(sampler_source, dtype, device) if cell.method == "beast" else None
    attack = build_attack(cell.method, model, tokenizer, cell.options, sampler, check)
    keep = correctly_classified(model, tokenizer, examples, include_instructions, check=check)
    eligible = len(examples)
    labels = task_settings.get("attacked_labels", spec.attacked_labels)
    if labels is not None:
        keep = [i for i in keep if examples[i].clf_label in labels]
        eligible = sum(e.clf_label in labels for e in examples)
    log.info(
        "%s on %s: %d of %d validation examples answered correctly are attacked%s",
        cell.name,
        model_dir,
        len(keep),
        eligible,
        f" (judge {check.judge.name})" if check else "",
        extra=PROGRESS,
    )
    checkpoint = (resume / "records.parquet", resume / "state.pt")
    if checkpoint[1].exists():
        records, state = _load(*checkpoint)
        log.info("resumed from %s", resume)
    elif previous is not None:
        records, state = _load(*previous)
    else:
        records, state = pd.DataFrame(), None
    done = -1 if state is None else state.iteration
    first = max(done, 0)
    judge_at = [budget] if task_settings.get("judge_at") == "budgets" else None
    if keep:
        chunk = cell.checkpoint_iterations or budget
        while done < budget:
            steps = min(chunk, budget - max(done, 0))
            result = attack.run(
                [examples[i] for i in keep],
                cell.placement(task),
                include_instructions,
                n_iterations=steps,
                state=state,
                example_ids=keep,
                judge_at=judge_at,
            )
            # Each row says how it was made: a smaller budget's rows may come from another job.
            made = result.records.assign(**provenance(model))
            records = pd.concat([records, made], ignore_index=True)
            state, done = result.state, result.state.iteration
            last = result.records[result.records["iteration"] == done]["success"]
            elapsed = time.monotonic() - started
            log.info(
                "iteration %d/%d: ASR %s (%.0fs, eta %.0fs)",
                done,
                budget,
                "not judged here" if last.isna().all() else f"{last.mean():.3f}",
                elapsed,
                elapsed / max(done - first, 1) * (budget - done),
                extra=PROGRESS,
            )
            if done < budget:
                _save(records, state, *checkpoint)
    records = records.assign(
        **metadata,
        attack=cell.name,
        method=cell.method,
        position=cell.placement(task).name,
        n_val=eligible,
        n_attacked=len(keep),
        n_params=model.num_parameters(),
        judge=check.judge.name if check else "",
    )
    _save(records, state, *out)
    for path in checkpoint:
        path.unlink(missing_ok=True)
    return records
