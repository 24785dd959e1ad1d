"""Greedy Coordinate Gradient (Zou et al. 2023) as the paper ran it (docs/method.md "Attacks").

Per iteration and example: the gradient of the loss w.r.t. a one-hot encoding of the attack
tokens ranks, at each position, the ``top_k`` tokens whose swap should lower the loss most
(special tokens excluded). ``n_candidates`` single-token swaps are drawn without replacement
from that position × token pool; swaps whose prompt ``before + text + after``, tokenized whole,
does not read as the candidate's tokens in the slot, or that leave the text unchanged, are
dropped; the rest are scored and the attack moves to the best one, even if it is worse than the
current suffix (no keep-best). The initial suffix passes the same check in each example's
prompt, so every record's tokens are exactly what the victim reads.

All examples move together: one gradient pass for all of them, one batched tokenizer check,
and candidate scoring that reuses the cached prompt and the unchanged part of the suffix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from robustness_scaling.attack_options import GCGOptions
from robustness_scaling.attacks.base import Attack, Judged, RunInputs, Steps
from robustness_scaling.attacks.scoring import Layout, Scores
from robustness_scaling.attacks.state import AttackState
from robustness_scaling.attacks.tokens import decode, keeps_its_tokens
from robustness_scaling.flops import forward_flops, training_flops

if TYPE_CHECKING:
    from robustness_scaling.generative.answers import GenerationCheck

MAX_INIT_TRIES = 10_000


def initial_ids(
    tokenizer: PreTrainedTokenizerBase, text: str, n_tokens: int, allowed: Tensor
) -> list[int]:
    """The allowed token ids of ``text``, cycled (or filled) to ``n_tokens``: every example's
    starting suffix before the prompt check."""
    ids = [i for i in tokenizer(text, add_special_tokens=False)["input_ids"] if allowed[i]]
    return (ids * n_tokens)[:n_tokens] if ids else allowed.nonzero().flatten()[:n_tokens].tolist()


def repair_until_kept(
    tokenizer: PreTrainedTokenizerBase,
    layout: Layout,
    inputs: RunInputs,
    ids: Tensor,
    allowed: Tensor,
    generators: list[torch.Generator],
) -> Tensor:
    """Each example's suffix ``ids[e]``, with random positions given random allowed tokens (from
    the example's generator) until its prompt reads as its tokens (as the paper's GCG does)."""
    ids = ids.clone()
    choices = allowed.nonzero().flatten()
    around = layout.context_ids
    pending = np.arange(len(ids))
    for _ in range(MAX_INIT_TRIES):
        texts = decode(tokenizer, ids[pending])
        kept = keeps_its_tokens(
            tokenizer,
            [inputs.context[e] for e in pending],
            [around[e] for e in pending],
            texts,
            ids[pending],
        )
        pending = pending[~kept]
        if len(pending) == 0:
            return ids
        for e in pending:
            g = generators[e]
            position = int(torch.randint(ids.shape[1], (1,), generator=g))
            ids[e, position] = choices[torch.randint(len(choices), (1,), generator=g)]
    before, after = inputs.context[pending[0]]
    raise ValueError(
        f"found no {ids.shape[1]}-token attack that keeps its tokens between {before[-40:]!r} and "
        f"{after[:40]!r} in {MAX_INIT_TRIES} tries"
    )


class GCG(Attack):
    """GCG on a classifier (cross-entropy toward the proxy label) or a causal LM (mean NLL of
    each example's ``proxy_gen_target``)."""

    name = "gcg"

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        options: GCGOptions | None = None,
        check: GenerationCheck | None = None,
    ) -> None:
        options = options or GCGOptions()
        super().__init__(model, tokenizer, options, check)
        self.options: GCGOptions = options
        self.initial_ids = initial_ids(
            tokenizer, options.initial_text, options.n_attack_tokens, self.allowed
        )

    def _start(
        self,
        state: AttackState,
        layout: Layout,
        inputs: RunInputs,
        generators: list[torch.Generator],
    ) -> None:
        if not self.scorer.is_classifier and (layout.target_len == 0).any():
            raise ValueError("GCG on a causal LM needs a non-empty proxy_gen_target per example")
        start = torch.tensor([self.initial_ids] * layout.n_examples, dtype=torch.long)
        suffix = repair_until_kept(self.tokenizer, layout, inputs, start, self.allowed, generators)
        state.current_ids = suffix.tolist()
        state.current_text = decode(self.tokenizer, suffix)

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
        k = min(self.options.top_k, int(self.allowed.sum()))
        n_pick = min(self.options.n_candidates, n * k)
        disallowed = ~self.allowed.to(dev)
        prompt_len = layout.prompt_len(n)
        examples = torch.arange(n_examples)
        around = layout.context_ids
        candidate_of = np.repeat(np.arange(n_examples), n_pick)
        context = [inputs.context[e] for e in candidate_of]
        candidate_around = [around[e] for e in candidate_of]
        for step in range(n_iterations):
            grad, current, attack_cache = scorer.loss_gradient(layout, suffix.to(dev))
            top = (-grad.masked_fill_(disallowed, torch.inf)).topk(k, dim=-1).indices.cpu()
            pick = torch.stack([torch.randperm(n * k, generator=g)[:n_pick] for g in generators])
            position = pick // k
            token = top[examples[:, None], position, pick % k]
            candidates = suffix[:, None, :].repeat(1, n_pick, 1)
            candidates.scatter_(2, position[..., None], token[..., None])
            flat = candidates.reshape(-1, n)
            flat_text = np.array(decode(self.tokenizer, flat), dtype=object)
            valid = keeps_its_tokens(
                self.tokenizer, context, candidate_around, flat_text.tolist(), flat
            )
            valid &= flat_text != np.repeat(text, n_pick)
            rows, cols = np.nonzero(valid.reshape(n_examples, n_pick))
            n_valid = np.bincount(rows, minlength=n_examples)
            best, scores = self._move(
                layout, flat, rows, cols, position, attack_cache, current, n_pick
            )
            moved = n_valid > 0
            suffix[moved] = candidates[moved, best[moved]]
            text[moved] = flat_text.reshape(n_examples, n_pick)[moved, best[moved]]
            if self._judges(inputs, state.iteration + step + 1):
                judged = self._verdict(inputs, np.arange(n_examples), text.tolist(), scores)
            else:
                judged = Judged.unjudged(scores)
            flops = np.array(
                [
                    training_flops(scorer.n_params, int(t))
                    + v * forward_flops(scorer.n_params, int(t))
                    for t, v in zip(prompt_len, n_valid, strict=True)
                ],
                dtype=np.int64,
            )
            steps.add(judged, suffix.tolist(), text.tolist(), flops)
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
