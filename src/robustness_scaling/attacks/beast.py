"""BEAST (Sadasivan et al. 2024): beam search over attack tokens proposed by a small LM.

As the paper ran it (docs/method.md "Attacks"): every iteration each beam asks the sampler (the
family's smallest base LM, e.g. pythia-14m, sharing the victim's tokenizer) for ``branch_factor``
next tokens, drawn without replacement from the softmax of its logits given ``before + beam``; the
victim's loss toward the proxy label ranks all beam × token candidates and the best
``beam_width`` become the new beams. The suffix grows one token per iteration, so it is as long
as the iteration count; each record reports the best candidate seen so far. Beams are token
sequences for the sampler, but the victim reads a candidate as text: its loss is that of
``before + decode(candidate) + after`` tokenized whole.

Sampling without replacement uses the Gumbel-top-k trick with noise from each example's CPU
generator, so draws do not depend on batching or device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from robustness_scaling.attack_options import BEASTOptions
from robustness_scaling.attacks.base import Attack, Judged, RunInputs, Steps
from robustness_scaling.attacks.scoring import Layout, Scorer, Scores
from robustness_scaling.attacks.state import AttackState
from robustness_scaling.attacks.tokens import allowed_tokens, decode
from robustness_scaling.flops import forward_flops

if TYPE_CHECKING:
    from robustness_scaling.generative.answers import GenerationCheck


def gumbel_noise(generators: list[torch.Generator], rows: int, width: int) -> torch.Tensor:
    """Standard Gumbel noise of shape ``(E, rows, width)``, each example's from its generator.

    The top-k of ``log p + noise`` is a sample of k items without replacement from ``p``.
    """
    uniform = torch.stack([torch.rand(rows, width, generator=g) for g in generators])
    return -torch.log(-torch.log(uniform))


class BEAST(Attack):
    """Beam search with sampler-proposed tokens, scored by the victim."""

    name = "beast"

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        sampler: PreTrainedModel,
        options: BEASTOptions | None = None,
        check: GenerationCheck | None = None,
    ) -> None:
        options = options or BEASTOptions()
        super().__init__(model, tokenizer, options, check)
        self.options: BEASTOptions = options
        self.sampler = Scorer(sampler, tokenizer, options.batch_size, options.use_kv_cache)
        if self.sampler.is_classifier:
            raise ValueError("BEAST's sampler must be a causal LM (AutoModelForCausalLM)")
        # The sampler may only propose tokens the victim may read.
        self.sampler_allowed = allowed_tokens(tokenizer, self.sampler.head.weight.shape[0])
        common = min(len(self.sampler_allowed), len(self.allowed))
        self.sampler_allowed[common:] = False
        self.sampler_allowed[:common] &= self.allowed[:common]

    def _start(
        self,
        state: AttackState,
        layout: Layout,
        inputs: RunInputs,
        generators: list[torch.Generator],
    ) -> None:
        state.extra["beams"] = torch.zeros((layout.n_examples, 1, 0), dtype=torch.long)
        state.extra["best_loss"] = torch.full((layout.n_examples,), torch.inf)

    def _advance(
        self,
        state: AttackState,
        layout: Layout,
        inputs: RunInputs,
        generators: list[torch.Generator],
        n_iterations: int,
        steps: Steps,
    ) -> None:
        dev, n_examples = self.scorer.device, layout.n_examples
        eos = self.tokenizer.eos_token_id
        sampler_layout = self.sampler.layout(
            [c[0] for c in inputs.context], [""] * n_examples, empty_before_id=eos
        )
        blocked = ~self.sampler_allowed.to(dev)
        beams = state.extra["beams"]
        best = Scores(
            state.extra["best_loss"].to(dev),
            state.current_predicted.to(dev),
            state.current_success.to(dev),
        )
        ids, texts = list(state.current_ids), list(state.current_text)
        generations = list(state.current_generation)
        for step in range(n_iterations):
            width, length = beams.shape[1], beams.shape[2]
            logits = self.sampler.next_token_logits(
                sampler_layout,
                beams.reshape(n_examples * width, length).to(dev),
                np.repeat(np.arange(n_examples), width),
            )
            log_p = logits.masked_fill_(blocked, -torch.inf).log_softmax(-1)
            gumbel = gumbel_noise(generators, width, log_p.shape[1])
            tokens = (
                (log_p.view_as(gumbel) + gumbel.to(dev))
                .topk(self.options.branch_factor, dim=-1)
                .indices.cpu()
            )
            branches = tokens.shape[-1]
            candidates = torch.cat(
                [beams[:, :, None, :].expand(-1, -1, branches, -1), tokens[..., None]], dim=-1
            ).reshape(n_examples, width * branches, length + 1)
            candidate_text = decode(self.tokenizer, candidates.reshape(-1, length + 1))
            scores, victim_tokens = self._score_texts(
                layout,
                inputs,
                np.repeat(np.arange(n_examples), width * branches),
                candidate_text,
            )
            loss = scores.loss.view(n_examples, -1)
            keep = loss.topk(min(self.options.beam_width, loss.shape[1]), largest=False).indices
            top = keep[:, 0]
            flat_top = torch.arange(n_examples, device=dev) * loss.shape[1] + top
            better = loss.gather(1, top[:, None])[:, 0] < best.loss
            best = Scores.where(better, scores.take(flat_top), best)
            keep_h, better_h = keep.cpu(), better.cpu().numpy()
            beams = candidates[torch.arange(n_examples)[:, None], keep_h]
            top_h = flat_top.cpu().numpy()
            ids = [beams[e, 0].tolist() if better_h[e] else ids[e] for e in range(n_examples)]
            texts = [
                candidate_text[top_h[e]] if better_h[e] else texts[e] for e in range(n_examples)
            ]
            victim_flops = forward_flops(self.scorer.n_params, 1) * victim_tokens.reshape(
                n_examples, -1
            ).sum(1)
            flops = victim_flops + np.array(
                [
                    width * forward_flops(self.sampler.n_params, int(s) + length)
                    for s in sampler_layout.before_len
                ],
                dtype=np.int64,
            )
            if not self._judges(inputs, state.iteration + step + 1):
                steps.add(Judged.unjudged(best), ids, texts, flops)
                continue
            # Every iteration judged: only a changed best-so-far needs a new answer. At chosen
            # iterations only: every example, since its best may have changed unjudged.
            judge = better_h if inputs.judge_at is None else np.ones(n_examples, dtype=bool)
            best, generations, judge_flops = self._judge_rows(
                inputs, np.flatnonzero(judge), texts, best, generations
            )
            steps.add(Judged(best, generations, judge_flops), ids, texts, flops)
        state.extra["beams"] = beams
        state.extra["best_loss"] = best.loss.cpu()
        state.current_ids, state.current_text = ids, texts
        state.current_predicted = best.predicted_label.cpu()
        state.current_success = best.success.cpu()
        state.current_generation = generations
        state.current_loss = best.loss.cpu()

    def _judge_rows(
        self,
        inputs: RunInputs,
        rows: np.ndarray,
        texts: list[str],
        best: Scores,
        generations: list[str],
    ) -> tuple[Scores, list[str], np.ndarray]:
        """Judge the best-so-far of the examples ``rows``; the rest keep their answer and
        verdict (and cost no generation FLOPs)."""
        flops = np.zeros(len(texts), dtype=np.int64)
        if self.check is None or len(rows) == 0:
            return best, generations, flops
        rows_t = torch.as_tensor(rows, device=best.loss.device)
        judged = self._verdict(inputs, rows, [texts[r] for r in rows], best.take(rows_t))
        success, predicted = best.success.clone(), best.predicted_label.clone()
        success[rows_t] = judged.scores.success
        predicted[rows_t] = judged.scores.predicted_label
        generations = list(generations)
        for row, generation in zip(rows, judged.generations, strict=True):
            generations[row] = generation
        flops[rows] = judged.flops
        return Scores(best.loss, predicted, success), generations, flops
