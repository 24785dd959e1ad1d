"""Greedy Coordinate Gradient (Zou et al. 2023) as the paper ran it (PAPER_SPEC §4).

Per iteration and example: the gradient of the loss w.r.t. a one-hot encoding of the attack
tokens ranks, at each position, the ``top_k`` tokens whose swap should lower the loss most
(special tokens excluded). ``n_candidates`` single-token swaps are drawn without replacement
from that position × token pool; swaps whose text does not re-encode to the same tokens, or
that leave the text unchanged, are dropped; the rest are scored and the attack moves to the
best one, even if it is worse than the current suffix (no keep-best).

All examples move together: one gradient pass for all of them, one batched tokenizer check,
and candidate scoring that reuses the cached prompt and the unchanged part of the suffix.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from robustness_scaling.attack_configs import GCGConfig
from robustness_scaling.attacks.base import (
    Attack,
    AttackState,
    RunInputs,
    Steps,
    decode,
    retokenizes,
)
from robustness_scaling.attacks.scoring import Layout, Scores
from robustness_scaling.flops import forward_flops, training_flops
from robustness_scaling.generation import GenerationCheck

MAX_INIT_TRIES = 10_000


def initial_attack(
    tokenizer: PreTrainedTokenizerBase,
    text: str,
    n_tokens: int,
    allowed: Tensor,
    generator: torch.Generator,
) -> list[int]:
    """Token ids of ``text`` made into ``n_tokens`` allowed tokens that survive re-encoding."""
    choices = allowed.nonzero().flatten()
    ids = [i for i in tokenizer(text, add_special_tokens=False)["input_ids"] if allowed[i]]
    ids = (ids * n_tokens)[:n_tokens] if ids else choices[:n_tokens].tolist()
    for _ in range(MAX_INIT_TRIES):
        if tokenizer(decode(tokenizer, [ids])[0], add_special_tokens=False)["input_ids"] == ids:
            return ids
        position = int(torch.randint(n_tokens, (1,), generator=generator))
        ids[position] = int(choices[torch.randint(len(choices), (1,), generator=generator)])
    raise ValueError(
        f"found no {n_tokens}-token attack from {text!r} that survives re-encoding in "
        f"{MAX_INIT_TRIES} tries"
    )


class GCG(Attack):
    """GCG on a classifier (cross-entropy toward the proxy label) or a causal LM (mean NLL of
    each example's ``proxy_gen_target``)."""

    name = "gcg"

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        config: GCGConfig | None = None,
        check: GenerationCheck | None = None,
    ) -> None:
        config = config or GCGConfig()
        super().__init__(model, tokenizer, config, check)
        self.config: GCGConfig = config
        self.initial_ids = initial_attack(
            tokenizer,
            config.initial_text,
            config.n_attack_tokens,
            self.allowed,
            torch.Generator().manual_seed(config.seed),
        )
        self.initial_text = decode(tokenizer, [self.initial_ids])[0]

    def _start(self, state: AttackState, layout: Layout) -> None:
        if not self.scorer.is_classifier and (layout.target_len == 0).any():
            raise ValueError("GCG on a causal LM needs a non-empty proxy_gen_target per example")
        state.current_ids = [list(self.initial_ids) for _ in range(layout.n_examples)]
        state.current_text = [self.initial_text] * layout.n_examples

    def _advance(
        self,
        state: AttackState,
        layout: Layout,
        inputs: RunInputs,
        generators: list[torch.Generator],
        n_iterations: int,
        steps: Steps,
    ) -> None:
        scorer, dev = self.scorer, self.scorer.device
        suffix = torch.tensor(state.current_ids, dtype=torch.long)
        text = np.array(state.current_text, dtype=object)
        n_examples, n = suffix.shape
        k = min(self.config.top_k, int(self.allowed.sum()))
        n_pick = min(self.config.n_candidates, n * k)
        disallowed = ~self.allowed.to(dev)
        prompt_len = layout.prompt_len(n)
        examples = torch.arange(n_examples)
        for _ in range(n_iterations):
            grad, current, attack_cache = scorer.loss_gradient(layout, suffix.to(dev))
            top = (-grad.masked_fill_(disallowed, torch.inf)).topk(k, dim=-1).indices.cpu()
            pick = torch.stack([torch.randperm(n * k, generator=g)[:n_pick] for g in generators])
            position = pick // k
            token = top[examples[:, None], position, pick % k]
            candidates = suffix[:, None, :].repeat(1, n_pick, 1)
            candidates.scatter_(2, position[..., None], token[..., None])
            flat = candidates.reshape(-1, n)
            flat_text = np.array(decode(self.tokenizer, flat), dtype=object)
            valid = retokenizes(self.tokenizer, flat_text.tolist(), flat)
            valid &= flat_text != np.repeat(text, n_pick)
            rows, cols = np.nonzero(valid.reshape(n_examples, n_pick))
            n_valid = np.bincount(rows, minlength=n_examples)
            best, scores = self._move(
                layout, flat, rows, cols, position, attack_cache, current, n_pick
            )
            moved = n_valid > 0
            suffix[moved] = candidates[moved, best[moved]]
            text[moved] = flat_text.reshape(n_examples, n_pick)[moved, best[moved]]
            judged = self._verdict(inputs, np.arange(n_examples), text.tolist(), scores)
            flops = judged.flops + np.array(
                [
                    training_flops(scorer.n_params, int(t))
                    + v * forward_flops(scorer.n_params, int(t))
                    for t, v in zip(prompt_len, n_valid, strict=True)
                ],
                dtype=np.int64,
            )
            steps.add(judged.scores, suffix.tolist(), text.tolist(), flops, judged.generations)
        state.current_ids = suffix.tolist()
        state.current_text = text.tolist()
        if n_iterations:
            state.current_generation = judged.generations

    def _move(
        self,
        layout: Layout,
        flat: Tensor,
        rows: np.ndarray,
        cols: np.ndarray,
        position: Tensor,
        attack_cache: list[tuple[Tensor, Tensor]] | None,
        current: Scores,
        n_pick: int,
    ) -> tuple[np.ndarray, Scores]:
        """Score the surviving candidates; return each example's best one and its scores.

        An example with no survivor keeps its suffix, and its record repeats the suffix's
        scores from the gradient pass.
        """
        dev = self.scorer.device
        n_examples = len(current.loss)
        if len(rows) == 0:
            return np.zeros(n_examples, dtype=np.int64), current
        scores = self.scorer.score(
            layout,
            flat[rows * n_pick + cols].to(dev),
            rows,
            position[rows, cols].numpy(),
            attack_cache,
        )
        rows_t, cols_t = torch.as_tensor(rows, device=dev), torch.as_tensor(cols, device=dev)
        loss = torch.full((n_examples, n_pick), torch.inf, device=dev)
        loss[rows_t, cols_t] = scores.loss
        slot = torch.zeros((n_examples, n_pick), dtype=torch.long, device=dev)
        slot[rows_t, cols_t] = torch.arange(len(rows), device=dev)
        best = loss.argmin(1)
        picked = slot[torch.arange(n_examples, device=dev), best]
        moved = torch.zeros(n_examples, dtype=torch.bool, device=dev)
        moved[rows_t] = True
        chosen = Scores.where(moved, scores.take(picked), current)
        return best.cpu().numpy(), chosen
