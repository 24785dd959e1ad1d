"""Generating a round's adversarial examples: the training attack on the current model.

The attack runs in chunks of ``checkpoint_iterations``
(:func:`~robustness_scaling.attacks.resumable.run_resumable`), saving records and state after
each, so a killed round restarts where its attack stopped; a finished attack is saved too, so a
round killed while training does not attack again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from robustness_scaling.attacks import build_attack
from robustness_scaling.attacks.resumable import AttackFiles, Progress, resumed, run_resumable
from robustness_scaling.tasks.base import Example, Placement
from robustness_scaling.training.sharded import current_world


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
    writer = current_world().leader  # in a sharded job, rank 0 writes what all ranks compute
    checkpoint = AttackFiles.checkpoint_in(resume, writer) if resume else None
    records, state = resumed(checkpoint, pd.DataFrame(), None, log)
    records, state = run_resumable(
        attack,
        examples,
        placement,
        include_instructions,
        example_ids=example_ids,
        until=n_iterations,
        records=records,
        state=state,
        chunk=checkpoint_iterations,
        checkpoint=checkpoint,
        progress=Progress(log, n_iterations, label="attack "),
    )
    if checkpoint is not None:  # a round killed while training does not attack again
        checkpoint.save(records, state)
    final = records[records["iteration"] == n_iterations].set_index("example_id")
    final = final.loc[list(example_ids), ["attack_text", "success", "loss"]].reset_index()
    return final, int(records["flops"].sum())
