"""The offline ``tiny`` family: a BPE tokenizer trained on the task corpus and GPT-NeoX configs.

Each size is a Pythia-architecture model built from a config in the study file, so the offline
default exercises exactly the model code the hub Pythia family runs. Saved with
``save_pretrained``, the tokenizer and models load through the same ``from_pretrained`` calls a
hub name takes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from robustness_scaling.splits import read_split
from robustness_scaling.tasks import model_input

EOS_TOKEN = "<|endoftext|>"


def corpus_texts(splits: Sequence[Path], include_instructions: Sequence[bool]) -> list[str]:
    """The family's corpus: each training input followed by its correct answer, so the
    pretrained models have seen the tasks' text (and BEAST's sampler proposes such text)."""
    return [
        model_input(example, include) + example.gen_target
        for path, include in zip(splits, include_instructions, strict=True)
        for example in read_split(path)
    ]


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: str | Path) -> None:
    """Train a byte-level BPE (GPT-NeoX style) on ``texts`` and save it as a transformers tokenizer.

    Byte-level means every string, including attack text that never appeared in the corpus,
    round-trips exactly; the end-of-text token doubles as padding, as in the paper (pad = eos).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=EOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    wrapped.save_pretrained(str(out_dir))


def gpt_neox_config(size: Mapping[str, Any], vocab_size: int, eos_token_id: int) -> Any:
    """A GPT-NeoX config for one tiny size, without dropout so training is deterministic."""
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        vocab_size=vocab_size,
        hidden_size=size["hidden_size"],
        num_hidden_layers=size["num_layers"],
        num_attention_heads=size["num_heads"],
        intermediate_size=size.get("intermediate_size", 4 * size["hidden_size"]),
        max_position_embeddings=size.get("max_position_embeddings", 512),
        rotary_pct=0.25,
        use_parallel_residual=True,
        tie_word_embeddings=False,
        attention_dropout=0.0,
        hidden_dropout=0.0,
        bos_token_id=eos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=eos_token_id,
    )


def classifier_params(size: Mapping[str, Any], vocab_size: int) -> int:
    """The parameter count of a tiny size's two-class classifier, computed without torch.

    The workflow needs it while planning (the paper's rounds × parameters rule) and planning
    must not build models. Matches ``GPTNeoXForSequenceClassification.num_parameters()``.
    """
    d, layers = size["hidden_size"], size["num_layers"]
    inner = size.get("intermediate_size", 4 * d)
    norms = 2 * (2 * d)
    attention = (d * 3 * d + 3 * d) + (d * d + d)
    mlp = (d * inner + inner) + (inner * d + d)
    return vocab_size * d + layers * (norms + attention + mlp) + 2 * d + 2 * d
