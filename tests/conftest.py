"""Shared fixtures: the repository, a small task corpus, locally trained tokenizers, and the
single-threaded torch the attack tests run under."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from robustness_scaling.tasks import model_input
from robustness_scaling.tasks.synthetic import password_match, word_length
from robustness_scaling.tasks.words import english_words

# No hub here. The hub libraries read these once, when first imported (nothing above imports
# them), and a test asking for a hub name would otherwise wait out network retries (20 s).
for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_name, "1")

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


# `make test` runs the suite on every core (`pytest -n auto --dist loadgroup`, pytest-xdist):
# most tests wait on subprocesses (jobs starting up, SLURM polls), so one process keeps about
# one core busy. Each module runs whole in one worker, so a module's fixtures are built once;
# the two SLURM modules share one worker and its one cluster.
_GROUPS = {"test_slurm_cluster": "slurm", "test_slurm_workflow": "slurm"}
# The longest groups first: they start at once, on different workers, and the short ones fill
# in around them.
_LONGEST = ("slurm", "test_workflow", "test_kill_and_rerun", "test_sharded_training")


def _group(item: pytest.Item) -> str:
    return _GROUPS.get(item.path.stem, item.path.stem)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))
    first = {group: rank for rank, group in enumerate(_LONGEST)}
    items.sort(key=lambda item: first.get(_group(item), len(first)))
