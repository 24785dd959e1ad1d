"""RandomToken: the paper's baseline attack (docs/method.md "Attacks").

Each iteration draws ``n_attack_tokens`` ordinary tokens uniformly and independently, decodes
them and inserts the text in the attack slot; there is no retokenization check, so the victim
reads the prompt tokenized whole, which is what is scored (the drawn ids may not survive it).
Iterations do not depend on each other, so every iteration of a ``run`` call is scored in one
batched job. The first success is kept: later records copy it, so the ASR at iteration i is the
fraction of examples broken by any of the first i draws.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from robustness_scaling.attack_options import RandomTokenOptions
from robustness_scaling.attacks.base import Attack, Judged, RunInputs, Steps
from robustness_scaling.attacks.scoring import Layout, Scores
from robustness_scaling.attacks.state import AttackState
from robustness_scaling.attacks.tokens import allowed_tokens, decode
from robustness_scaling.flops import forward_flops

if TYPE_CHECKING:
    from robustness_scaling.generative.answers import GenerationCheck


class RandomToken(Attack):
    """Uniform random tokens in the attack slot, first success kept."""

    name = "random_token"

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        options: RandomTokenOptions | None = None,
        check: GenerationCheck | None = None,
    ) -> None:
        options = options or RandomTokenOptions()
        super().__init__(model, tokenizer, options, check)
        self.options: RandomTokenOptions = options
        self.allowed = allowed_tokens(tokenizer, self.scorer.vocab_rows, with_added=False)

    def _start(
        self,
        state: AttackState,
        layout: Layout,
        inputs: RunInputs,
        generators: list[torch.Generator],
    ) -> None:
        state.extra["found"] = torch.zeros(layout.n_examples, dtype=torch.bool)

    def _advance(
        self,
        state: AttackState,
        layout: Layout,
        inputs: RunInputs,
        generators: list[torch.Generator],
        n_iterations: int,
        steps: Steps,
    ) -> None:
        if n_iterations == 0:
            return
        dev, n = self.scorer.device, self.options.n_attack_tokens
        n_examples = layout.n_examples
        choices = self.allowed.nonzero().flatten()
        draws = torch.stack(
            [
                choices[torch.randint(len(choices), (n_iterations, n), generator=g)]
                for g in generators
            ]
        ).reshape(-1, n)
        rows = np.repeat(np.arange(n_examples), n_iterations)
        text = decode(self.tokenizer, draws)
        scores, tokens = self._score_texts(layout, inputs, rows, text)
        judged = self._verdict(inputs, rows, text, scores)
        drawn = judged.scores

        # Which record each (example, iteration) reports: -1 for a success kept from an earlier
        # call, else the first success so far in this call, else its own draw.
        success = drawn.success.view(n_examples, n_iterations)
        first_hit = success.int().argmax(1, keepdim=True)
        hit = success.cumsum(1) > 0
        own = torch.arange(n_iterations, device=dev).expand(n_examples, -1)
        source = torch.where(hit, first_hit, own)
        source = torch.where(state.extra["found"].to(dev)[:, None], -1, source).cpu().numpy()

        own_flops = np.array(
            [forward_flops(self.scorer.n_params, int(t)) for t in tokens], dtype=np.int64
        ).reshape(n_examples, n_iterations)
        own_judge_flops = judged.flops.reshape(n_examples, n_iterations)
        kept = Scores(
            state.current_loss.to(dev),
            state.current_predicted.to(dev),
            state.current_success.to(dev),
        )
        ids, texts = state.current_ids, state.current_text
        generations = state.current_generation
        for it in range(n_iterations):
            src = source[:, it]
            flat = np.arange(n_examples) * n_iterations + np.maximum(src, 0)
            old = torch.as_tensor(src < 0, device=dev)
            flat_t = torch.as_tensor(flat, device=dev)
            scores = Scores.where(old, kept, drawn.take(flat_t))
            ids = [ids[e] if src[e] < 0 else draws[flat[e]].tolist() for e in range(n_examples)]
            texts = [texts[e] if src[e] < 0 else text[flat[e]] for e in range(n_examples)]
            generations = [
                generations[e] if src[e] < 0 else judged.generations[flat[e]]
                for e in range(n_examples)
            ]
            verdict = Judged(scores, generations, own_judge_flops[:, it])
            steps.add(verdict, ids, texts, own_flops[:, it])
        state.current_ids, state.current_text = ids, texts
        state.current_generation = generations
        state.current_loss = scores.loss.cpu()
        state.current_predicted = scores.predicted_label.cpu()
        state.current_success = scores.success.cpu()
        state.extra["found"] |= hit[:, -1].cpu()
