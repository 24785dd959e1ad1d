"""Entry points of the offline family's stages: tokenizer training and pretraining."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from robustness_scaling.pretrain import PretrainSettings, pretrain
from robustness_scaling.runtime import (
    get_logger,
    mixed_precision,
    resolve_device,
    resolve_dtype,
    setup_job,
)
from robustness_scaling.splits import read_split
from robustness_scaling.tasks import model_input
from robustness_scaling.tiny_family import train_tokenizer


def corpus_texts(splits: Sequence[Path], include_instructions: Sequence[bool]) -> list[str]:
    """The tiny family's corpus: each training input followed by its correct answer."""
    return [
        model_input(example, include) + example.gen_target
        for path, include in zip(splits, include_instructions, strict=True)
        for example in read_split(path)
    ]


def tokenizer(
    splits: Sequence[Path],
    include_instructions: Sequence[bool],
    vocab_size: int,
    out: Path,
    log: str,
) -> None:
    """Train the tiny family's BPE tokenizer on the task corpus."""
    texts = corpus_texts(splits, include_instructions)
    train_tokenizer(texts, vocab_size, out)
    get_logger("tokenizer", log).info("trained a %d-token BPE on %d texts", vocab_size, len(texts))


def pretrain_size(
    splits: Sequence[Path],
    include_instructions: Sequence[bool],
    tokenizer_dir: Path,
    size: Mapping[str, Any],
    settings: Mapping[str, Any],
    runtime: Mapping[str, Any],
    out: Path,
    checkpoint: Path,
    threads: int,
    log: str,
) -> None:
    """Pretrain one size of the tiny family as a causal LM."""
    setup_job(threads, seed=0)
    logger = get_logger("pretrain", log)
    with mixed_precision(runtime, logger):
        pretrain(
            corpus_texts(splits, include_instructions),
            tokenizer_dir,
            dict(size),
            out,
            PretrainSettings.from_config(settings),
            seed=0,
            device=resolve_device(runtime["device"]),
            dtype=resolve_dtype(runtime["dtype"]),
            checkpoint=checkpoint,
            log=logger,
        )
