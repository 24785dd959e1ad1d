"""What finetuning and the adversarial rounds share when they train and score a classifier:
which prompts fit the context, the classification loss, and clean accuracy."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from robustness_scaling.models.load import predict_labels
from robustness_scaling.tasks import Example, model_input
from robustness_scaling.training.loop import Batch

CONTEXT_MARGIN = 24  # the paper drops examples longer than context length − 24 tokens


def context_limit(model: torch.nn.Module) -> int:
    """The longest prompt, in tokens, that a model trains and is evaluated on."""
    return model.config.max_position_embeddings - CONTEXT_MARGIN


def fitting_prompts(
    tokenizer: Any, examples: list[Example], include_instructions: bool, max_tokens: int
) -> tuple[list[list[int]], list[int]]:
    """Every example's prompt ids, and the indices of those within ``max_tokens``."""
    texts = [model_input(example, include_instructions) for example in examples]
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return encoded, [i for i, ids in enumerate(encoded) if len(ids) <= max_tokens]


def tokenize_examples(
    tokenizer: Any, examples: list[Example], include_instructions: bool, max_tokens: int
) -> tuple[list[list[int]], list[int], int]:
    """Token ids and labels of the examples that fit the context; also how many were dropped."""
    encoded, kept = fitting_prompts(tokenizer, examples, include_instructions, max_tokens)
    return (
        [encoded[i] for i in kept],
        [examples[i].clf_label for i in kept],
        len(examples) - len(kept),
    )


def fitting_examples(
    tokenizer: Any, examples: list[Example], include_instructions: bool, max_tokens: int
) -> list[Example]:
    """The examples whose prompt fits the context: those :func:`tokenize_examples` keeps."""
    kept = fitting_prompts(tokenizer, examples, include_instructions, max_tokens)[1]
    return [examples[i] for i in kept]


def classification_loss(
    model: torch.nn.Module, batch: Batch, reduction: str = "mean"
) -> torch.Tensor:
    """Cross-entropy over the two classes at the last non-pad token (``reduction="none"``:
    each example's, which the rounds record for the pool's loss rank)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return F.cross_entropy(logits.float(), batch["labels"], reduction=reduction)


def clean_accuracy(
    model: torch.nn.Module, sequences: list[list[int]], labels: list[int], pad: int, batch: int
) -> float:
    """Fraction of ``sequences`` classified as their label."""
    predictions = predict_labels(model, sequences, pad, batch)
    return float((predictions == torch.tensor(labels)).float().mean())
