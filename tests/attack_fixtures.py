"""Tiny offline victims for the attack tests: a local BPE tokenizer and random 2-layer models.

Everything is built from scratch in a temporary folder, so the tests never touch the network
and run in seconds on two CPU cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from transformers import (
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    GPTNeoXForSequenceClassification,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForSequenceClassification,
)

from robustness_scaling.models.tiny import train_tokenizer
from robustness_scaling.tasks.base import Example
from robustness_scaling.tasks.synthetic import password_match

WORDS = (
    "apple",
    "Berlin",
    "castle",
    "dragon",
    "ember",
    "falcon",
    "garden",
    "harbor",
    "island",
    "jungle",
    "kettle",
    "lantern",
    "meadow",
    "nectar",
    "orchid",
    "pepper",
    "quartz",
    "river",
    "saddle",
    "timber",
    "umbra",
    "velvet",
    "walnut",
    "xenon",
    "yonder",
    "zephyr",
)


def one_thread() -> Iterator[None]:
    """Run torch single-threaded, then restore: with models this small, threads only contend
    (on a loaded 2-core machine, 2 threads made a GCG step 30x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build_tokenizer(directory: Path, vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """The offline family's byte-level BPE, trained on task-like text and loaded back."""
    train, val = password_match(WORDS, train_size=20, val_size=20)
    corpus = [e.instructions + "".join(e.content) + e.answer_prompt for e in train + val]
    corpus += [" GRANTED DENIED Sure, here is @&@&@&@&@& x x x"] * 3
    train_tokenizer(corpus, vocab_size, directory)
    return PreTrainedTokenizerFast.from_pretrained(directory)


def _neox_config(tokenizer: PreTrainedTokenizerFast, **kwargs: object) -> GPTNeoXConfig:
    return GPTNeoXConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
        **kwargs,
    )


def tiny_classifier(
    tokenizer: PreTrainedTokenizerFast, arch: str = "gpt_neox", seed: int = 0
) -> torch.nn.Module:
    """A random 2-layer GPT-NeoX or Qwen2 classifier with 2 labels, in eval mode."""
    torch.manual_seed(seed)
    if arch == "qwen2":
        config = Qwen2Config(
            vocab_size=len(tokenizer),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=64,
            max_position_embeddings=512,
            num_labels=2,
            pad_token_id=tokenizer.pad_token_id,
        )
        return Qwen2ForSequenceClassification(config).eval()
    return GPTNeoXForSequenceClassification(_neox_config(tokenizer, num_labels=2)).eval()


def tiny_causal_lm(tokenizer: PreTrainedTokenizerFast, seed: int = 1) -> GPTNeoXForCausalLM:
    """A random 2-layer GPT-NeoX LM sharing the tokenizer (BEAST's sampler, target-string GCG)."""
    torch.manual_seed(seed)
    return GPTNeoXForCausalLM(_neox_config(tokenizer)).eval()


def examples(n: int) -> list[Example]:
    """PasswordMatch validation examples (both labels) from the tiny word list."""
    return password_match(WORDS, train_size=2, val_size=n + n % 2)[1][:n]
