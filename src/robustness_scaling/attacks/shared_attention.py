"""Attention over a prefix that many rows share, without copying it per row.

A scoring pass puts many candidates of the same example side by side; they share the example's
``before`` (the prefix cache) and, for GCG, the key/value states of the current attack up to
where a candidate changes it. Handing a model a key/value cache per row copies those shared
states once per row and layer: ~78 MB per row for Pythia-1b with a 300-token prompt. Here the
shared states stay one per example, and each row's query attends to its example's shared part
and to its own tokens, in one softmax over both (the same attention as over the concatenated
keys, up to float rounding).

The model runs with this module's attention implementation inside :func:`shared_prefix`, which
sets what the rows share; the attention mask the model gets is the rows' own causal mask.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from transformers import AttentionInterface

NAME = "robustness_scaling_shared_prefix"


@dataclass(frozen=True)
class Shared:
    """Per layer, each example's shared keys and values ``(E, kv_heads, S, head_dim)``; per row,
    its example and which of the ``S`` shared positions it may see ``(B, S)``."""

    keys: list[Tensor]
    values: list[Tensor]
    example: Tensor
    visible: Tensor

    def groups(self) -> list[tuple[int, Tensor]]:
        """(example, its rows) for each example the rows come from."""
        order = torch.argsort(self.example, stable=True)
        examples, counts = torch.unique_consecutive(self.example[order], return_counts=True)
        return list(zip(examples.tolist(), torch.split(order, counts.tolist()), strict=True))


_SHARED: ContextVar[Shared | None] = ContextVar("shared_prefix", default=None)


def _repeat_heads(states: Tensor, heads: int) -> Tensor:
    """Key/value heads repeated to the query's heads (grouped-query attention)."""
    return states.repeat_interleave(heads // states.shape[-3], dim=-3)


def shared_prefix_attention(
    module: torch.nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[Tensor, None]:
    """Softmax attention of each row's query over its example's shared states and its own
    keys; ``attention_mask`` is the rows' own ``(B, 1, Q, Q)`` boolean mask."""
    shared = _SHARED.get()
    if shared is None:
        raise RuntimeError(f"the {NAME} attention runs only inside shared_prefix()")
    heads = query.shape[1]
    scale = query.shape[-1] ** -0.5 if scaling is None else scaling
    own_keys, own_values = _repeat_heads(key, heads), _repeat_heads(value, heads)
    own = (query @ own_keys.transpose(-1, -2)) * scale
    if attention_mask is not None:
        own = own.masked_fill(~attention_mask, float("-inf"))
    layer = module.layer_idx
    shared_keys, shared_values = shared.keys[layer], shared.values[layer]
    width = shared_keys.shape[-2]
    groups = shared.groups()
    scores = own.new_empty((*own.shape[:-1], width))
    for example, rows in groups:
        scores[rows] = (query[rows] @ _repeat_heads(shared_keys[example], heads).mT) * scale
    hidden = ~shared.visible[:, None, None, :]
    scores = scores.masked_fill(hidden, float("-inf"))
    weights = torch.softmax(torch.cat([scores, own], dim=-1).float(), dim=-1).to(query.dtype)
    out = weights[..., width:] @ own_values
    for example, rows in groups:
        out[rows] += weights[rows, ..., :width] @ _repeat_heads(shared_values[example], heads)
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, shared_prefix_attention)


@contextmanager
def shared_prefix(model: torch.nn.Module, shared: Shared) -> Iterator[None]:
    """Run ``model`` with :func:`shared_prefix_attention` over ``shared`` inside the block."""
    config = model.config
    before = config._attn_implementation
    token = _SHARED.set(shared)
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = before
        _SHARED.reset(token)
