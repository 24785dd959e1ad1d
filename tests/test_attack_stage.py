"""The attack stage: budgets continue each other exactly, and a killed cell resumes exactly."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
import torch

from robustness_scaling.attack_stage import AttackCell, run_attack_cell
from robustness_scaling.attacks import Attack
from robustness_scaling.models import load_classifier, load_tokenizer
from robustness_scaling.tasks.synthetic import password_match
from robustness_scaling.tasks.words import english_words

CPU = torch.device("cpu")
LOG = logging.getLogger("test")
GCG = AttackCell(
    name="gcg",
    method="gcg",
    options={"n_candidates": 8, "top_k": 16, "n_attack_tokens": 3},
    position=None,
    n_val=12,
)
META = {"family": "tiny", "size": "s", "task": "password_match", "seed": 0, "round": 0}


@pytest.fixture(scope="module")
def classifier_dir(neox_dir, tmp_path_factory) -> Path:
    """A classifier that gets some examples right (a random head on a random LM)."""
    path = tmp_path_factory.mktemp("classifier")
    tokenizer = load_tokenizer(neox_dir)
    torch.manual_seed(1)
    load_classifier(neox_dir, tokenizer.pad_token_id, torch.float32, CPU).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def examples():
    return password_match(english_words(), 2, 12)[1]


def _run(cell, classifier_dir, examples, budget, folder: Path, previous=None, resume=None):
    out = (folder / f"budget{budget}.parquet", folder / f"budget{budget}.state.pt")
    run_attack_cell(
        cell,
        "password_match",
        examples,
        {"include_instructions": False},
        classifier_dir,
        budget,
        previous,
        None,
        out,
        resume or folder / "resume",
        META,
        device=CPU,
        dtype=torch.float32,
        log=LOG,
    )
    return out


def test_budget_cell_records_iterations_and_metadata(classifier_dir, examples, tmp_path):
    records = pd.read_parquet(_run(GCG, classifier_dir, examples, 2, tmp_path)[0])
    assert sorted(records["iteration"].unique()) == [0, 1, 2]
    assert (records["n_val"] == 12).all() and (records["attack"] == "gcg").all()
    assert (records["position"] == "chunk").all() and (records["round"] == 0).all()
    assert len(records) == 3 * records["n_attacked"].iloc[0] > 0
    assert (records.loc[records["iteration"] == 0, "success"] == False).all()  # noqa: E712


def test_larger_budget_continues_the_smaller_one_exactly(classifier_dir, examples, tmp_path):
    fresh = _run(GCG, classifier_dir, examples, 3, tmp_path / "fresh")
    smaller = _run(GCG, classifier_dir, examples, 1, tmp_path / "ladder")
    continued = _run(GCG, classifier_dir, examples, 3, tmp_path / "ladder", previous=smaller)
    assert fresh[0].read_bytes() == continued[0].read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(fresh[0]), pd.read_parquet(continued[0]))


def test_killed_cell_resumes_from_its_checkpoint(classifier_dir, examples, tmp_path, monkeypatch):
    cell = AttackCell(**{**GCG.__dict__, "checkpoint_iterations": 1})
    straight = _run(cell, classifier_dir, examples, 3, tmp_path / "straight")

    original, calls = Attack.run, []

    def dies_on_third_chunk(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Attack, "run", dies_on_third_chunk)
    resume = tmp_path / "resume"
    with pytest.raises(KeyboardInterrupt):
        _run(cell, classifier_dir, examples, 3, tmp_path / "killed", resume=resume)
    assert (resume / "state.pt").exists()
    monkeypatch.setattr(Attack, "run", original)
    resumed = _run(cell, classifier_dir, examples, 3, tmp_path / "killed", resume=resume)
    assert resumed[0].read_bytes() == straight[0].read_bytes()
    assert not (resume / "state.pt").exists()
