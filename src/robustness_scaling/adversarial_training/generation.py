"""Generating a round's adversarial examples: the training attack on the current model.

The attack runs in chunks of ``checkpoint_iterations``, saving records and state after each,
so a killed round restarts where its attack stopped; a finished attack is saved too, so a round
killed while training does not attack again. Attacks continue exactly, so the result is that of
one run straight through.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from robustness_scaling.atomic import atomic_path
from robustness_scaling.attacks import AttackState, build_attack
from robustness_scaling.runtime import PROGRESS
from robustness_scaling.tasks.base import Example, Placement

ATTACK_CHECKPOINT_FILES = ("attack_records.parquet", "attack_state.pt")


def attack_seed(options_seed: int, seed: int, round_index: int) -> int:
    """The training attack's seed in one round of one run.

    Attacks draw from (attack seed, example id); mixing in the run's seed and the round makes an
    example drawn in two rounds get fresh random draws rather than the same ones again.
    """
    return int(np.random.SeedSequence([options_seed, seed, round_index]).generate_state(1)[0])


def generate_adversarial_examples(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    example_ids: Sequence[int],
    placement: Placement,
    include_instructions: bool,
    method: str,
    options: Mapping[str, Any],
    n_iterations: int,
    sampler: PreTrainedModel | None,
    checkpoint_iterations: int,
    resume: Path | None,
    log: logging.Logger,
) -> tuple[pd.DataFrame, int]:
    """Attack every example for ``n_iterations``; no example is skipped, whatever its label.

    Returns each example's final attack (rows in ``example_ids`` order, with ``example_id``,
    ``attack_text``, ``success``, ``loss``: the last record, which is GCG's current suffix,
    RandomToken's first success or last draw, BEAST's best) and the FLOPs of all records.
    """
    attack = build_attack(method, model, tokenizer, options, sampler)
    records, state = pd.DataFrame(), None
    saved = tuple(resume / name for name in ATTACK_CHECKPOINT_FILES) if resume else None
    if saved is not None and saved[1].exists():
        records, state = pd.read_parquet(saved[0]), AttackState.load(saved[1])
        log.info("attack resumed from %s at iteration %d", resume, state.iteration)
    done = -1 if state is None else state.iteration
    chunk = checkpoint_iterations or n_iterations
    while done < n_iterations:
        result = attack.run(
            examples,
            placement,
            include_instructions,
            n_iterations=min(chunk, n_iterations - max(done, 0)),
            state=state,
            example_ids=example_ids,
        )
        records = pd.concat([records, result.records], ignore_index=True)
        state, done = result.state, result.state.iteration
        last = result.records[result.records["iteration"] == done]
        log.info(
            "attack iteration %d/%d: ASR %.3f",
            done,
            n_iterations,
            last["success"].mean(),
            extra=PROGRESS,
        )
        if saved is not None:
            with atomic_path(saved[0]) as tmp:
                records.to_parquet(tmp, index=False)
            state.save(saved[1])
    final = records[records["iteration"] == n_iterations].set_index("example_id")
    final = final.loc[list(example_ids), ["attack_text", "success", "loss"]].reset_index()
    return final, int(records["flops"].sum())
