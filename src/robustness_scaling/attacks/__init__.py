"""Batched, resumable attacks on the study's victims: GCG, RandomToken and BEAST.

The method is docs/method.md "Attacks".

Usage::

    keep = correctly_classified(model, tokenizer, examples)
    attack = GCG(model, tokenizer, GCGOptions())
    result = attack.run([examples[i] for i in keep], task.placement, n_iterations=10,
                        example_ids=keep)
    more = attack.run(..., n_iterations=118, state=result.state)  # continues to 128

``result.records`` has one row per example and iteration (iteration 0 is the clean prompt) with
the columns in :data:`RECORD_COLUMNS`; :func:`attack_success_rate` turns it into ASR per
iteration.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from robustness_scaling.attack_options import (
    ATTACK_OPTIONS,
    AttackOptions,
    BEASTOptions,
    GCGOptions,
    RandomTokenOptions,
)
from robustness_scaling.attacks.base import Attack
from robustness_scaling.attacks.clean import attack_success_rate, correctly_classified
from robustness_scaling.attacks.state import RECORD_COLUMNS, AttackResult, AttackState
from robustness_scaling.by_name import method_module

if TYPE_CHECKING:
    from robustness_scaling.generative.answers import GenerationCheck

# Each method lives in the module of its name and is imported only when used, so that the code
# fingerprint of a job covers the one method it runs (robustness_scaling.fingerprint).
METHOD_CLASSES: dict[str, str] = {"gcg": "GCG", "random_token": "RandomToken", "beast": "BEAST"}


def attack_class(method: str) -> type[Attack]:
    """The class of attack method ``method``, importing its module only now."""
    if method not in METHOD_CLASSES:
        raise ValueError(f"unknown attack {method!r}; known attacks: {', '.join(METHOD_CLASSES)}")
    return getattr(importlib.import_module(method_module(method)), METHOD_CLASSES[method])


def __getattr__(name: str) -> Any:
    """``from robustness_scaling.attacks import GCG`` still works, importing only GCG."""
    methods = {cls: method for method, cls in METHOD_CLASSES.items()}
    if name in methods:
        return attack_class(methods[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_attack(
    name: str,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    options: Mapping[str, Any] | None = None,
    sampler: PreTrainedModel | None = None,
    check: GenerationCheck | None = None,
) -> Attack:
    """The attack called ``name`` (as in configs and paths) with ``options`` (its config entry's).

    ``sampler`` is BEAST's proposal LM and is required for it only. ``check`` makes a causal-LM
    victim's success a judged greedy answer (generation tasks).
    """
    attack_cls = attack_class(name)
    options_cls = ATTACK_OPTIONS[name]
    fields = options_cls.__dataclass_fields__
    unknown = sorted(set(options or {}) - set(fields))
    if unknown:
        raise ValueError(f"unknown {name} options {unknown}; allowed: {', '.join(fields)}")
    parsed = options_cls(**(options or {}))
    if name == "beast":
        if sampler is None:
            raise ValueError("the beast attack needs a sampler LM")
        return attack_cls(model, tokenizer, sampler, parsed, check)
    return attack_cls(model, tokenizer, parsed, check)


__all__ = [
    "METHOD_CLASSES",
    "BEAST",
    "GCG",
    "RECORD_COLUMNS",
    "Attack",
    "AttackOptions",
    "AttackResult",
    "AttackState",
    "BEASTOptions",
    "GCGOptions",
    "RandomToken",
    "RandomTokenOptions",
    "attack_class",
    "attack_success_rate",
    "build_attack",
    "correctly_classified",
    "method_module",
]
