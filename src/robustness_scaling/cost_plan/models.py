"""The shapes and precision that size a study's models, known without loading one: the hub
families' published configs, the tiny family's own config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from robustness_scaling.config import TINY
from robustness_scaling.models.families import HUB_FAMILIES
from robustness_scaling.models.tiny import classifier_params

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}

QUERY_HEADS = {
    "pythia": {
        "14m": 4,
        "31m": 8,
        "70m": 8,
        "160m": 12,
        "410m": 16,
        "1b": 8,
        "1.4b": 16,
        "2.8b": 32,
        "6.9b": 32,
        "12b": 40,
    },
    "qwen2.5": {"0.5B": 14, "1.5B": 12, "3B": 16, "7B": 28, "14B": 40},
}
"""Attention (query) heads of each hub size, from its config.json (``num_attention_heads``):
an attack's attention scores are one per head, so they size its scoring passes."""


@dataclass(frozen=True)
class Shape:
    """The layer shapes that size a model's activations, attention scores and key/value
    cache, and its parameter counts as a classifier and as a causal LM."""

    hidden: int
    layers: int
    intermediate: int
    kv_size: int
    heads: int
    vocab: int
    gated_mlp: bool
    classifier_params: int
    generative_params: int


@dataclass(frozen=True)
class Precision:
    """Bytes per value of weights (and gradients, optimizer state) and of activations."""

    weights: int
    activations: int


def model_shape(config: Mapping[str, Any], size: str) -> Shape:
    """A size's shapes: the published ones of a hub family, the config's for the tiny family
    (GPT-NeoX, untied unembedding)."""
    family = config["family"]
    if family == TINY:
        spec, vocab = config["tiny"]["sizes"][size], config["tiny"]["vocab_size"]
        d = spec["hidden_size"]
        params = classifier_params(spec, vocab)
        return Shape(
            d,
            spec["num_layers"],
            spec.get("intermediate_size", 4 * d),
            d,
            spec["num_heads"],
            vocab,
            False,
            params,
            params - 2 * d + vocab * d,
        )
    hub = HUB_FAMILIES[family]
    s = hub.sizes[size]
    return Shape(
        s.hidden_size,
        s.num_layers,
        s.intermediate_size,
        s.kv_size,
        QUERY_HEADS[family][size],
        s.vocab_size,
        hub.gated_mlp,
        s.classifier_params,
        s.generative_params,
    )


def precision(config: Mapping[str, Any]) -> Precision:
    """The study's precision: weights in ``runtime.dtype``; activations in bfloat16 under
    ``autocast: bfloat16``, else in the dtype (``auto`` counted as float32: an upper bound)."""
    runtime = config["runtime"]
    weights = DTYPE_BYTES[runtime["dtype"]]
    return Precision(weights, 2 if runtime["autocast"] == "bfloat16" else weights)


def sampler_shape(config: Mapping[str, Any]) -> Shape:
    """BEAST's proposal LM: the family's smallest base LM, as the workflow picks it (an attack
    entry's own ``sampler`` is costed as that one too)."""
    if config["family"] == TINY:
        sizes = config["tiny"]["sizes"]
        smallest = min(sizes, key=lambda s: sizes[s]["hidden_size"] ** 2 * sizes[s]["num_layers"])
        return model_shape(config, smallest)
    hub = HUB_FAMILIES[config["family"]]
    smallest = next(s for s in hub.sizes if hub.source.format(size=s) == hub.smallest_base_lm)
    return model_shape(config, smallest)
