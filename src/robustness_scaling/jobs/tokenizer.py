"""The offline family's tokenizer job: a BPE trained on the task corpus."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robustness_scaling.models.tiny import corpus_texts, train_tokenizer
from robustness_scaling.runtime import Runtime, get_logger


@dataclass(frozen=True, kw_only=True)
class Tokenizer:
    """``corpus``: the corpus tasks' train splits, each read with its ``include_instructions``."""

    corpus: list[Path]
    include_instructions: list[bool]
    vocab_size: int
    out: Path

    def run(self, runtime: Runtime, log: str) -> None:
        texts = corpus_texts(self.corpus, self.include_instructions)
        train_tokenizer(texts, self.vocab_size, self.out)
        get_logger("tokenizer", log).info(
            "trained a %d-token BPE on %d texts", self.vocab_size, len(texts)
        )
