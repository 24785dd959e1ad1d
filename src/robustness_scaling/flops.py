"""FLOP accounting used everywhere in the study (docs/method.md "Compute").

A forward pass costs 2·N·T and a backward pass 4·N·T, where N counts all parameters
(embeddings and head included) and T is the number of token positions in the batch, padding
included. KV-cached work is still counted on the full input, so our numbers stay comparable with
the paper's even though our attacks do less arithmetic.
"""

from __future__ import annotations

FORWARD_FLOPS_PER_PARAM_TOKEN = 2
BACKWARD_FLOPS_PER_PARAM_TOKEN = 4


def forward_flops(n_params: int, n_tokens: int) -> int:
    """FLOPs of one forward pass over ``n_tokens`` positions (padding included)."""
    return FORWARD_FLOPS_PER_PARAM_TOKEN * n_params * n_tokens


def backward_flops(n_params: int, n_tokens: int) -> int:
    """FLOPs of one backward pass over ``n_tokens`` positions."""
    return BACKWARD_FLOPS_PER_PARAM_TOKEN * n_params * n_tokens


def training_flops(n_params: int, n_tokens: int) -> int:
    """Forward plus backward: the 6·N·T of a training step."""
    return forward_flops(n_params, n_tokens) + backward_flops(n_params, n_tokens)


def pretrain_flops(n_params_generative: int, n_tokens: int) -> int:
    """Pretraining compute 6·N·D of the generative (LM-head) model."""
    return training_flops(n_params_generative, n_tokens)
