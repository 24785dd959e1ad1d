"""Shared fixtures: the repository, a small task corpus, locally trained tokenizers, and the
single-threaded torch the attack tests run under."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustness_scaling.tasks import model_input
from robustness_scaling.tasks.synthetic import password_match, word_length
from robustness_scaling.tasks.words import english_words

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    """Inputs with answers from small PasswordMatch and WordLength splits."""
    words = english_words()
    pm, _ = password_match(words, 400, 200)
    wl, _ = word_length(words, 400, 200)
    return [model_input(example, False) + example.gen_target for example in pm + wl]


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory, corpus: list[str]) -> Path:
    from robustness_scaling.models.tiny import train_tokenizer

    path = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer(corpus, 300, path)
    return path


def save_random_lm(config, path: Path, tokenizer_dir: Path) -> Path:
    """Save a randomly initialised causal LM with the test tokenizer, as a hub checkpoint looks."""
    import torch
    from transformers import AutoModelForCausalLM

    from robustness_scaling.models.load import load_tokenizer

    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    load_tokenizer(tokenizer_dir).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def neox_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> Path:
    """A small random GPT-NeoX (Pythia architecture) LM directory."""
    from robustness_scaling.models.tiny import gpt_neox_config

    config = gpt_neox_config({"hidden_size": 32, "num_layers": 2, "num_heads": 2}, 300, 0)
    path = save_random_lm(config, tmp_path_factory.mktemp("neox"), tokenizer_dir)
    (path / "metrics.json").write_text('{"pretrain_flops": 0}')  # as the pretrain stage records
    return path


@pytest.fixture(scope="module")
def single_thread():
    """Torch single-threaded for one test module, then restored (see attack_fixtures)."""
    from attack_fixtures import one_thread

    yield from one_thread()


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    """The attack tests' tokenizer: the offline family's BPE on task-like text."""
    from attack_fixtures import build_tokenizer

    return build_tokenizer(tmp_path_factory.mktemp("attack-tokenizer"))
