"""One attack cell: an attack's budget ladder on one model, resumable and incremental.

A budget is a number of iterations. One job runs an attack's whole ladder on one model (e.g.
2, 5 and 10 iterations), each budget continuing the one before exactly, so the job pays its
start-up (imports, loading the model) once per ladder rather than once per budget. Every budget
is its own output, and each finished one is also linked into a store kept outside the outputs
(:class:`LadderStore`): Snakemake deletes a job's outputs before it reruns it, e.g. when a
larger budget is added, and the rerun restores what the store holds and computes only the
increment. Inside a budget, progress is checkpointed every ``checkpoint_iterations``. Store and
checkpoint are bound to a key of the job's settings, code and inputs, so neither is ever
continued under other settings.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from robustness_scaling.atomic import atomic_path, remove_empty_parents
from robustness_scaling.attacks import build_attack, correctly_classified
from robustness_scaling.attacks.resumable import AttackFiles, Progress, resumed, run_resumable
from robustness_scaling.binding import KeyedFolder
from robustness_scaling.by_name import generation_check
from robustness_scaling.errors import InputError
from robustness_scaling.models.load import load_causal_lm, load_classifier, load_tokenizer
from robustness_scaling.runtime import PROGRESS, provenance
from robustness_scaling.tasks import Example, Placement, get_task
from robustness_scaling.training.classify import context_limit, fitting_prompts


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


def _link(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (a copy across file systems), atomically."""
    with atomic_path(target) as tmp:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copy2(source, tmp)


class LadderStore(KeyedFolder):
    """The finished budgets of one attack cell, kept across reruns of its job."""

    def __init__(self, folder: Path, key: str, log: logging.Logger) -> None:
        super().__init__(folder, key, log, "stored budgets")

    def _files(self, budget: int) -> AttackFiles:
        return AttackFiles(
            self.folder / f"budget{budget}.parquet", self.folder / f"budget{budget}.state.pt"
        )

    def restore(self, budget: int, out: AttackFiles) -> bool:
        """Put the stored budget at ``out`` (touched: Snakemake sees it made now); False when the
        store does not hold it."""
        stored = self._files(budget)
        if not all(p.is_file() for p in stored.paths):
            return False
        for source, target in zip(stored.paths, out.paths, strict=True):
            _link(source, target)
            os.utime(target)
        return True

    def keep(self, budget: int, out: AttackFiles) -> None:
        for source, target in zip(out.paths, self._files(budget).paths, strict=True):
            _link(source, target)


def run_attack_cell(
    cell: AttackCell,
    task: str,
    examples: list[Example],
    task_settings: Mapping[str, Any],
    model_dir: str | Path,
    outs: Mapping[int, AttackFiles],
    sampler_source: str | None,
    metadata: Mapping[str, Any],
    *,
    resume: Path,
    store: Path,
    key: str,
    device: torch.device,
    dtype: torch.dtype,
    log: logging.Logger,
) -> pd.DataFrame:
    """Attack the correctly classified ``examples`` up to each budget of ``outs`` (budget ->
    its output files); returns the records of iterations 0..largest budget, with ``metadata``
    columns (the cell's family, size, task, seed, round, ...) added.

    ``store`` keeps finished budgets across reruns and ``resume`` the checkpoint of the budget
    in progress, both under ``key`` (:func:`robustness_scaling.binding.binding_key` of the job's
    settings and inputs). A generation task's victim is a causal LM whose greedy answers a
    judge decides (``task_settings``: ``max_new_tokens``, ``judge``); only correctly answered
    examples of the task's attacked labels (``attacked_labels``, default the task's) are
    attacked.
    """
    started = time.monotonic()
    ladder = LadderStore(store, key, log)
    budgets = sorted(outs)
    records, state = pd.DataFrame(), None
    restored = []
    while budgets and ladder.restore(budgets[0], outs[budgets[0]]):
        restored.append(budgets.pop(0))
        records, state = outs[restored[-1]].load()
    if restored:
        log.info("%s budgets %s restored from %s", cell.name, restored, store, extra=PROGRESS)
    if not budgets:
        return records
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
    max_tokens = context_limit(model)
    fits = fitting_prompts(tokenizer, examples, include_instructions, max_tokens)[1]
    if not fits:
        raise InputError(
            f"none of the {len(examples)} validation examples fits {model_dir}'s context "
            f"({max_tokens} tokens, as finetuning counts it): nothing to attack"
        )
    fitting = [examples[i] for i in fits]
    keep = correctly_classified(model, tokenizer, fitting, include_instructions, check=check)
    keep = [fits[i] for i in keep]  # ids stay the validation split's row numbers
    eligible = len(fits)
    labels = task_settings.get("attacked_labels", spec.attacked_labels)
    if labels is not None:
        keep = [i for i in keep if examples[i].clf_label in labels]
        eligible = sum(e.clf_label in labels for e in fitting)
    log.info(
        "%s on %s: %d of %d validation examples answered correctly are attacked%s; %d dropped "
        "as longer than %d tokens",
        cell.name,
        model_dir,
        len(keep),
        eligible,
        f" (judge {check.judge.name})" if check else "",
        len(examples) - len(fits),
        max_tokens,
        extra=PROGRESS,
    )
    checkpoint = AttackFiles.checkpoint_in(resume)
    KeyedFolder(resume, key, log, "the checkpoint")
    records, state = resumed(checkpoint, records, state, log)
    progress = Progress(log, budgets[-1], label=f"{cell.name} ", started=started)
    for budget in budgets:
        if keep:
            records, state = run_resumable(
                attack,
                [examples[i] for i in keep],
                cell.placement(task),
                include_instructions,
                example_ids=keep,
                until=budget,
                records=records,
                state=state,
                chunk=cell.checkpoint_iterations,
                checkpoint=checkpoint,
                progress=progress,
                judge_at=[budget] if task_settings.get("judge_at") == "budgets" else None,
                columns=provenance(model),
            )
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
        outs[budget].save(records, state)
        ladder.keep(budget, outs[budget])
        checkpoint.remove()
    shutil.rmtree(resume, ignore_errors=True)
    remove_empty_parents(resume)
    return records
