"""An independent re-scoring of attack records: plain transformers forward passes on the text.

The attacks' scorer caches prefixes, reuses key/value states, gathers positions and batches rows;
this module does none of that. It writes a record's ``attack_text`` into the example as
adversarial training stores it (``with_attack``), tokenizes the whole prompt as the victim
receives it, and runs the model on it alone, so a record that is not true of its text fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from robustness_scaling.tasks.base import Example, Placement, model_input, with_attack

LOSS_RTOL = 1e-4


@dataclass(frozen=True)
class Rescored:
    loss: float
    predicted_label: int
    success: bool


def prompt_of(example: Example, placement: Placement, text: str, include_instructions: bool) -> str:
    """The string the victim reads with ``text`` in the attack slot (the empty text: clean)."""
    return model_input(with_attack(example, placement, text), include_instructions)


@torch.no_grad()
def rescore_classifier(
    model, tokenizer, example: Example, placement: Placement, text: str, include_instructions: bool
) -> Rescored:
    """Cross-entropy toward the proxy label, the predicted label, and whether it is wrong."""
    ids = tokenizer(prompt_of(example, placement, text, include_instructions))["input_ids"]
    logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    loss = F.cross_entropy(logits, torch.tensor(example.proxy_clf_label))
    predicted = int(logits.argmax())
    return Rescored(float(loss), predicted, predicted != example.clf_label)


@torch.no_grad()
def rescore_target(
    model, tokenizer, example: Example, placement: Placement, text: str, include_instructions: bool
) -> Rescored:
    """A causal LM's mean NLL of the proxy target after the whole prompt, and whether greedy
    decoding (teacher-forced) writes the target."""
    ids = tokenizer(prompt_of(example, placement, text, include_instructions))["input_ids"]
    target = tokenizer(example.proxy_gen_target, add_special_tokens=False)["input_ids"]
    logits = model(input_ids=torch.tensor([ids + target])).logits[0].float()
    read = logits[len(ids) - 1 : len(ids) - 1 + len(target)]
    loss = F.cross_entropy(read, torch.tensor(target))
    greedy = bool((read.argmax(-1) == torch.tensor(target)).all())
    return Rescored(float(loss), -1, greedy)


@torch.no_grad()
def greedy_answer(
    model,
    tokenizer,
    example: Example,
    placement: Placement,
    text: str,
    include_instructions: bool,
    max_new_tokens: int,
) -> str:
    """What a generative victim writes after the whole prompt, greedily, one prompt alone."""
    ids = tokenizer(prompt_of(example, placement, text, include_instructions))["input_ids"]
    out = model.generate(
        input_ids=torch.tensor([ids]),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
    )[0, len(ids) :].tolist()
    eos = tokenizer.eos_token_id
    return tokenizer.decode(out[: out.index(eos)] if eos in out else out, skip_special_tokens=True)


def assert_record_is_true(record, rescored: Rescored, where: str) -> None:
    """The record's label and success equal the re-scoring's; its loss within ``LOSS_RTOL``."""
    assert int(record.predicted_label) == rescored.predicted_label, where
    assert bool(record.success) == rescored.success, where
    assert abs(record.loss - rescored.loss) <= LOSS_RTOL * max(abs(rescored.loss), 1e-3), (
        f"{where}: recorded loss {record.loss} but the text scores {rescored.loss}"
    )
