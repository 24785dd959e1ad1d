"""Adafactor as the paper trains with it (Shazeer & Stern 2018; no relative step size, no
parameter scaling, no first moment), written so that it also steps sharded parameters.

The update is the one of ``transformers.optimization.Adafactor(scale_parameter=False,
relative_step=False)``, operation for operation, so a 1-process run gives bit-identical weights
(tested). transformers' version allocates its factored second moments as plain tensors, which
cannot be mixed with the DTensor parameters of a model sharded by FSDP2 (``fully_shard``); here
every state tensor is made from the gradient it tracks, so it is sharded like its parameter,
and the reductions over a sharded dimension (the column means, the update's RMS) become
collectives that DTensor runs. ``torch.optim.Adafactor`` is not a substitute: it always scales
the step by the parameter's RMS and a relative step size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch.distributed.tensor import DTensor, Partial, Replicate


def _replicated(tensor: torch.Tensor) -> torch.Tensor:
    """A reduction over a sharded dimension leaves partial sums on each rank; the running
    averages must hold the reduced value, the same on every rank."""
    if isinstance(tensor, DTensor) and any(isinstance(p, Partial) for p in tensor.placements):
        return tensor.redistribute(placements=[Replicate()] * len(tensor.placements))
    return tensor


def _rms(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.norm(2) / (tensor.numel() ** 0.5)


class Adafactor(torch.optim.Optimizer):
    """Adafactor with a fixed learning rate (the paper's 1e-5 with a schedule on top), factored
    second moments for matrices, update clipping at RMS ``clip_threshold``, decoupled weight
    decay; the defaults are transformers' (``eps`` (1e-30, 1e-3), decay rate -0.8)."""

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float,
        eps: tuple[float, float] = (1e-30, 1e-3),
        clip_threshold: float = 1.0,
        decay_rate: float = -0.8,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {
            "lr": lr,
            "eps": eps,
            "clip_threshold": clip_threshold,
            "decay_rate": decay_rate,
            "weight_decay": weight_decay,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # noqa: D102 (torch's signature)
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    self._update(param, group)
        return loss

    def _update(self, param: torch.Tensor, group: dict[str, Any]) -> None:
        grad = param.grad
        if grad.dtype in (torch.float16, torch.bfloat16):
            grad = grad.float()
        weights = param.float() if param.dtype in (torch.float16, torch.bfloat16) else param
        factored = grad.dim() >= 2
        state = self.state[param]
        if not state:
            state["step"] = 0
            if factored:
                state["exp_avg_sq_row"] = torch.zeros_like(grad.mean(dim=-1))
                state["exp_avg_sq_col"] = _replicated(torch.zeros_like(grad.mean(dim=-2)))
            else:
                state["exp_avg_sq"] = torch.zeros_like(grad)
        state["step"] += 1
        lr = group["lr"]
        beta2t = 1.0 - math.pow(state["step"], group["decay_rate"])
        update = (grad**2) + group["eps"][0]
        if factored:
            row, col = state["exp_avg_sq_row"], state["exp_avg_sq_col"]
            row.mul_(beta2t).add_(update.mean(dim=-1), alpha=1.0 - beta2t)
            col.mul_(beta2t).add_(_replicated(update.mean(dim=-2)), alpha=1.0 - beta2t)
            row_mean = _replicated(row.mean(dim=-1, keepdim=True))
            row_factor = (row / row_mean).rsqrt_().unsqueeze(-1)
            update = torch.mul(row_factor, col.unsqueeze(-2).rsqrt())
            update.mul_(grad)
        else:
            second = state["exp_avg_sq"]
            second.mul_(beta2t).add_(update, alpha=1.0 - beta2t)
            update = second.rsqrt().mul_(grad)
        update.div_((_replicated(_rms(update)) / group["clip_threshold"]).clamp_(min=1.0))
        update.mul_(lr)
        if group["weight_decay"] != 0:
            weights.add_(weights, alpha=-group["weight_decay"] * lr)
        weights.add_(-update)
        if weights is not param:
            param.copy_(weights)
