"""The clean check: how the victim does on each unattacked prompt, which examples it gets
right (the only ones attacked, docs/method.md "Attacks"), and the attack success rate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from robustness_scaling.attacks.scoring import Scorer, Scores
from robustness_scaling.tasks.base import Example, model_input

if TYPE_CHECKING:
    from robustness_scaling.generative.answers import GenerationCheck


def clean_scores(scorer: Scorer, examples: Sequence[Example], include_instructions: bool) -> Scores:
    """The victim on each clean prompt, tokenized whole (iteration 0)."""
    layout = scorer.layout(
        [model_input(e, include_instructions) for e in examples],
        [""] * len(examples),
        [e.proxy_clf_label for e in examples],
        [e.clf_label for e in examples],
        targets=[e.proxy_gen_target for e in examples],
        cache=False,
    )
    empty = torch.zeros((len(examples), 0), dtype=torch.long, device=scorer.device)
    return scorer.score(layout, empty, np.arange(len(examples)))


def correctly_classified(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    include_instructions: bool = True,
    batch_size: int = 512,
    check: GenerationCheck | None = None,
) -> list[int]:
    """Indices of the examples the victim gets right: the only ones attacked (docs/method.md
    "Attacks").

    With a ``check``, a generative victim is right when the judge finds its clean answer correct.
    """
    if check is not None:
        correct = check.answers_correctly(model, tokenizer, examples, include_instructions)
        return np.flatnonzero(correct).tolist()
    scores = clean_scores(Scorer(model, tokenizer, batch_size), examples, include_instructions)
    return np.flatnonzero(~scores.success.cpu().numpy()).tolist()


def attack_success_rate(records: pd.DataFrame) -> pd.Series:
    """ASR per iteration: the fraction of attacked examples misclassified."""
    return records.groupby("iteration")["success"].mean()
