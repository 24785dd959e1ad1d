"""Batched, resumable attacks on the study's victims: GCG, RandomToken and BEAST (PAPER_SPEC §4).

Usage::

    keep = correctly_classified(model, tokenizer, examples)
    attack = GCG(model, tokenizer, GCGConfig())
    result = attack.run([examples[i] for i in keep], task.placement, n_iterations=10,
                        example_ids=keep)
    more = attack.run(..., n_iterations=118, state=result.state)  # continues to 128

``result.records`` has one row per example and iteration (iteration 0 is the clean prompt) with
the columns in :data:`RECORD_COLUMNS`; :func:`attack_success_rate` turns it into ASR per
iteration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from robustness_scaling.attacks.base import (
    RECORD_COLUMNS,
    Attack,
    AttackConfig,
    AttackResult,
    AttackState,
    attack_success_rate,
    correctly_classified,
)
from robustness_scaling.attacks.beast import BEAST, BEASTConfig
from robustness_scaling.attacks.gcg import GCG, GCGConfig
from robustness_scaling.attacks.random_token import RandomToken, RandomTokenConfig
from robustness_scaling.generation import GenerationCheck

ATTACKS: dict[str, tuple[type[Attack], type[AttackConfig]]] = {
    GCG.name: (GCG, GCGConfig),
    RandomToken.name: (RandomToken, RandomTokenConfig),
    BEAST.name: (BEAST, BEASTConfig),
}


def build_attack(
    name: str,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    options: Mapping[str, Any] | None = None,
    sampler: PreTrainedModel | None = None,
    check: GenerationCheck | None = None,
) -> Attack:
    """The attack called ``name`` (as in configs and paths) with config ``options``.

    ``sampler`` is BEAST's proposal LM and is required for it only. ``check`` makes a causal-LM
    victim's success a judged greedy answer (generation tasks).
    """
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; known attacks: {', '.join(ATTACKS)}")
    attack_cls, config_cls = ATTACKS[name]
    fields = config_cls.__dataclass_fields__
    unknown = sorted(set(options or {}) - set(fields))
    if unknown:
        raise ValueError(f"unknown {name} options {unknown}; allowed: {', '.join(fields)}")
    config = config_cls(**(options or {}))
    if attack_cls is BEAST:
        if sampler is None:
            raise ValueError("the beast attack needs a sampler LM")
        return BEAST(model, tokenizer, sampler, config, check)
    return attack_cls(model, tokenizer, config, check)


__all__ = [
    "ATTACKS",
    "BEAST",
    "GCG",
    "RECORD_COLUMNS",
    "Attack",
    "AttackConfig",
    "AttackResult",
    "AttackState",
    "BEASTConfig",
    "GCGConfig",
    "RandomToken",
    "RandomTokenConfig",
    "attack_success_rate",
    "build_attack",
    "correctly_classified",
]
