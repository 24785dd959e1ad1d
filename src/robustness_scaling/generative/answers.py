"""Greedy generation after (attacked) prompts, batched, with its FLOPs, and the judged verdicts.

Generation tasks are won or lost on what the victim writes (docs/method.md "Evaluations"), so
every attack record of a generative victim comes from an actual greedy continuation of the prompt as
the victim would receive it: the full text, tokenized whole. Batches are left-padded (the new tokens
line up) and sorted by length so little padding is computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from robustness_scaling.flops import forward_flops
from robustness_scaling.generative.judges import Judge, Verdicts, build_judge
from robustness_scaling.runtime import GENERATION_BATCH_SIZE
from robustness_scaling.tasks.base import Example, Task, model_input


@dataclass(frozen=True)
class Generations:
    """Continuations of a batch of prompts: their text and the FLOPs spent on each."""

    texts: list[str]
    flops: np.ndarray


def _eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    return [eos] if isinstance(eos, int) else list(eos)


@torch.no_grad()
def greedy_generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int = 64,
) -> Generations:
    """Greedy continuations of ``prompts`` of at most ``max_new_tokens`` tokens (stopping at eos).

    FLOPs follow the convention of docs/method.md "Compute" for cached passes: each new token is
    counted as a forward pass over the whole sequence so far, 2·N·(T + i) for the i-th new token.
    """
    encoded = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    eos = _eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        pad_token_id=pad,
        eos_token_id=eos,
    )
    device = next(model.parameters()).device
    n_params = model.num_parameters()
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    texts: list[str] = [""] * len(encoded)
    flops = np.zeros(len(encoded), dtype=np.int64)
    model.eval()
    for lo in range(0, len(order), batch_size):
        rows = order[lo : lo + batch_size]
        width = max(len(encoded[i]) for i in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            ids = encoded[i]
            input_ids[r, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            mask[r, width - len(ids) :] = 1
        out = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=mask.to(device),
            generation_config=config,
        )
        new = out[:, width:].cpu().tolist()
        for r, i in enumerate(rows):
            tokens = new[r]
            stop = next((j for j, t in enumerate(tokens) if t in eos), None)
            n_new = len(tokens) if stop is None else stop + 1
            kept = tokens if stop is None else tokens[:stop]
            texts[i] = tokenizer.decode(kept, skip_special_tokens=True)
            length = len(encoded[i])
            flops[i] = sum(forward_flops(n_params, length + j) for j in range(n_new))
    return Generations(texts, flops)


@dataclass(frozen=True)
class GenerationCheck:
    """How a generative victim's answers are produced and judged: the task's generation setting."""

    judge: Judge
    max_new_tokens: int
    batch_size: int = GENERATION_BATCH_SIZE

    def run(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        examples: Sequence[Example],
        prompts: Sequence[str],
        judged_prompts: Sequence[str] | None = None,
    ) -> tuple[Verdicts, Generations]:
        """Generate after each prompt and judge the answer against its example; the judge
        reads ``judged_prompts`` (the clean prompts of attacked ones) when given."""
        generations = greedy_generate(
            model, tokenizer, prompts, self.max_new_tokens, self.batch_size
        )
        shown = prompts if judged_prompts is None else judged_prompts
        return self.judge(examples, shown, generations.texts), generations

    def answers_correctly(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        examples: Sequence[Example],
        include_instructions: bool,
    ) -> np.ndarray:
        """Whether the judge finds each clean answer correct: a generative victim's accuracy."""
        prompts = [model_input(e, include_instructions) for e in examples]
        verdicts, _ = self.run(model, tokenizer, examples, prompts)
        return verdicts.correct


def generation_check(
    task: Task, settings: Mapping[str, Any], device: Any = "cpu", dtype: Any = None
) -> GenerationCheck | None:
    """The check of a generation task from its config slice (``max_new_tokens``, ``judge``);
    ``None`` for a classification task. The judge defaults to the task's own kind."""
    if not task.is_generation:
        return None
    judge = build_judge(settings.get("judge") or {"type": task.judge}, device, dtype)
    return GenerationCheck(
        judge,
        settings.get("max_new_tokens", 8),
        settings.get("generation_batch_size", GENERATION_BATCH_SIZE),
    )
