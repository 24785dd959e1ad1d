"""How many tokens a study's prompts hold, estimated from the config alone: no tokenizer is
loaded and no split is read, so a plan can be made before anything is downloaded.

Synthetic tasks are measured on examples generated as their splits are; natural-text tasks are
given typical lengths (:data:`NATURAL_CONTENT_CHARS`). Both are read at
:data:`CHARS_PER_TOKEN` characters a token; padding is not counted. Where the splits are made,
``prompt_tokens`` replaces an estimate with a task's measured tokens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from robustness_scaling.config import TINY, cells
from robustness_scaling.data import _GENERATORS as SYNTHETIC_GENERATORS
from robustness_scaling.tasks import TASKS, get_task, model_input
from robustness_scaling.tasks.base import ANSWER_PROMPT
from robustness_scaling.tasks.words import english_words

CHARS_PER_TOKEN = {"hub": 4.0, TINY: 1.8}
"""Characters per token. Hub: the usual ≈ 4 of English text under GPT-NeoX's and Qwen2.5's
BPEs (about 50k and 150k tokens). Tiny: the smoke study's 300-token BPE reads PasswordMatch and
WordLength prompts at 2.05 and 1.56 characters per token (measured on its generated splits)."""

NATURAL_CONTENT_CHARS = {
    "spam": 1_000,
    "imdb": 1_300,
    "helpful": 1_400,
    "harmless": 1_200,
    "strongreject": 250,
}
"""Typical characters of a natural-text example's content (instructions and answer prompt
are added from the task). IMDB: reviews average about 230 words (≈ 1,300 characters). Spam:
an Enron email of about 1,000 characters, as the hub split's size suggests (29.3k training rows
in 17.3 MB of compressed parquet). Helpful, Harmless: two Anthropic HH-RLHF conversations
that share their opening turns; Harmless's are shorter. StrongREJECT: forbidden prompts of one
to three sentences. Estimates: override them (``prompt_tokens``) once the splits are made."""

DEFAULT_MAX_NEW_TOKENS = 8
"""A generation task's answer length unless its settings say (generative/answers.py)."""


@dataclass(frozen=True)
class PromptSplit:
    """An attacked prompt's tokens around the attack slot: ``before`` it (what the scorer
    caches once per example), ``after`` it (read again by every candidate) and the ``target``
    a causal LM's loss reads (0 for a classifier)."""

    before: int
    after: int
    target: int


def chars_per_token(config: Mapping[str, Any]) -> float:
    """The study's family's characters per token."""
    return CHARS_PER_TOKEN[TINY if config["family"] == TINY else "hub"]


@cache
def _synthetic_prompt_chars(task: str, include_instructions: bool) -> float:
    """Mean prompt length of a synthetic task over 2,000 examples generated as its splits are."""
    train, _ = SYNTHETIC_GENERATORS[task](english_words(), train_size=2_000, val_size=2, seed=0)
    return float(np.mean([len(model_input(e, include_instructions)) for e in train]))


def estimated_prompt_tokens(config: Mapping[str, Any], task: str) -> int:
    """Tokens of a task's clean prompt as the study feeds it (instructions or not)."""
    include = config["task_settings"][task]["include_instructions"]
    if task in SYNTHETIC_GENERATORS:
        chars = _synthetic_prompt_chars(task, include)
    else:
        instructions = get_task(task).instructions if include else ""
        chars = len(instructions) + NATURAL_CONTENT_CHARS[task] + len(ANSWER_PROMPT)
    return math.ceil(chars / chars_per_token(config))


def prompt_tokens_of(
    config: Mapping[str, Any], prompt_tokens: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Every study task's prompt tokens: ``prompt_tokens`` where given, else the estimate."""
    given = dict(prompt_tokens or {})
    unknown = sorted(set(given) - set(TASKS))
    if unknown:
        raise ValueError(f"prompt_tokens: unknown task(s) {unknown}; known: {', '.join(TASKS)}")
    bad = {t: n for t, n in given.items() if isinstance(n, bool) or not isinstance(n, int) or n < 1}
    if bad:
        raise ValueError(f"prompt_tokens: need a positive whole number of tokens, got {bad}")
    tasks = sorted({task for _, task, _ in cells(config)})
    return {task: given.get(task) or estimated_prompt_tokens(config, task) for task in tasks}


def answer_tokens(config: Mapping[str, Any], task: str) -> int:
    """Tokens of a generation task's longest answer word (the attack's target, the trained
    answer); 0 for a classification task, whose loss reads no tokens of its own."""
    definition = get_task(task)
    if not definition.is_generation:
        return 0
    return math.ceil(max(map(len, definition.label_words)) / chars_per_token(config))


def prompt_split(
    config: Mapping[str, Any], task: str, prompt: int, position: float | None
) -> PromptSplit:
    """Where an attack at ``position`` (None: the task's own slot) cuts a ``prompt``-token
    prompt. The text after the slot is the content past the position and the answer prompt;
    the content's characters are what the prompt's tokens leave after the instructions and the
    answer prompt, so a given ``prompt_tokens`` moves the cut with it. The synthetic tasks'
    own slot is their last, empty content chunk: only the answer prompt follows it."""
    definition = get_task(task)
    if position is None:
        chunk = definition.placement.overwritable_chunk is not None
        position = 1.0 if chunk else definition.placement.position
    per_token = chars_per_token(config)
    include = config["task_settings"][task]["include_instructions"]
    instructions = len(definition.instructions) if include else 0
    content = max(0.0, prompt * per_token - instructions - len(ANSWER_PROMPT))
    after = min(prompt, math.ceil(((1 - position) * content + len(ANSWER_PROMPT)) / per_token))
    return PromptSplit(prompt - after, after, answer_tokens(config, task))
