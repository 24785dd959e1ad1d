"""One function per workflow stage, taking plain paths and config slices.

The Snakemake scripts are thin wrappers around these, so every stage can also be run (and
tested) from Python without Snakemake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from robustness_scaling.atomic import read_json
from robustness_scaling.data import make_splits
from robustness_scaling.families import HUB_FAMILIES
from robustness_scaling.finetune import FinetuneSettings, finetune
from robustness_scaling.pretrain import PretrainSettings, pretrain
from robustness_scaling.runtime import get_logger, resolve_device, resolve_dtype, setup_job
from robustness_scaling.splits import read_split, write_split
from robustness_scaling.tasks import model_input
from robustness_scaling.tiny_family import train_tokenizer


def task_data(
    task: str, settings: Mapping[str, Any], train: Path, validation: Path, log: str
) -> None:
    """Write a task's train and validation splits."""
    logger = get_logger("data", log)
    splits = make_splits(task, settings)
    for name, path in (("train", train), ("validation", validation)):
        count = write_split(path, splits[name])
        logger.info("%s: wrote %d %s examples to %s", task, count, name, path)


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
        log=get_logger("pretrain", log),
    )


def pretrain_flops_of(family: str, size: str, model_dir: Path | None) -> int:
    """Pretraining compute: counted by our pretraining stage, or the hub family's 6·N·D."""
    if family in HUB_FAMILIES:
        return HUB_FAMILIES[family].sizes[size].pretrain_flops
    return int(read_json(Path(model_dir) / "metrics.json")["pretrain_flops"])


def finetune_cell(
    family: str,
    size: str,
    seed: int,
    model_source: str,
    train: Path,
    validation: Path,
    task_settings: Mapping[str, Any],
    settings: Mapping[str, Any],
    runtime: Mapping[str, Any],
    out: Path,
    checkpoint: Path,
    threads: int,
    log: str,
) -> None:
    """Finetune one family × size × task × seed cell into its round-0 model directory."""
    setup_job(threads, seed)
    local = Path(model_source)
    finetune(
        read_split(train, settings["n_train"]),
        read_split(validation, settings["n_val"]),
        model_source,
        out,
        FinetuneSettings.from_config(settings),
        include_instructions=task_settings["include_instructions"],
        seed=seed,
        device=resolve_device(runtime["device"]),
        dtype=resolve_dtype(runtime["dtype"]),
        checkpoint=checkpoint,
        pretrain_flops=pretrain_flops_of(family, size, local if local.is_dir() else None),
        log=get_logger("finetune", log),
    )
