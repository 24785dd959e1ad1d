"""Adversarial training: sampling weights, pool growth, schedules, and a resumable round chain."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from attack_fixtures import one_thread
from rule_runner import run_rule_here
from safetensors.torch import load_file

from robustness_scaling.adversarial_training import (
    attack_iterations,
    evaluation_rounds,
    number_of_rounds,
    ramp_horizon,
    rank_weights,
    sample_training_set,
    training_mix,
)
from robustness_scaling.adversarial_training import round as round_module
from robustness_scaling.adversarial_training.round import adversarial_round
from robustness_scaling.adversarial_training.settings import AdversarialTrainingSettings
from robustness_scaling.attacks import Attack
from robustness_scaling.jobs.adversarial_round import AdversarialRounds
from robustness_scaling.models.families import HUB_FAMILIES
from robustness_scaling.models.load import load_classifier, load_tokenizer
from robustness_scaling.splits import write_split
from robustness_scaling.tasks import Example, Placement, attack_context, get_task, model_input
from robustness_scaling.tasks.base import with_attack
from robustness_scaling.tasks.synthetic import password_match
from robustness_scaling.tasks.words import english_words

CPU = torch.device("cpu")
LOG = logging.getLogger("test")
SETTINGS = AdversarialTrainingSettings(
    learning_rate=1e-3,
    batch_size=4,
    minibatch_size=2,
    eval_batch_size=16,
    examples_per_round=4,
    max_augmented_data_size=8,
    adv_share=0.75,
    attack_options={"n_candidates": 8, "top_k": 16, "n_attack_tokens": 3},
    ramp_start=1,
    ramp_end=2,
    ramp_rounds=2,
    checkpoint_seconds=0,
    checkpoint_iterations=1,
)
FILES = ("model.safetensors", "metrics.json", "pool.parquet", "adversarial_examples.jsonl")


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """One thread for every round, module fixtures included: float sums depend on the count."""
    yield from one_thread()


def test_rank_weights_match_a_hand_computed_case():
    # Pool in order of addition; the third example was never trained on (+inf).
    losses = np.array([0.5, 0.1, math.inf, 0.3])
    # time ranks 0 1 2 3; loss ranks 2 0 3 1; rank = 0.5·time + 0.5·loss = 1, 0.5, 2.5, 2.
    expected = np.exp([-1.5, -2.0, 0.0, -0.5])
    np.testing.assert_allclose(rank_weights(losses, 1.0, 0.5), expected / expected.sum())
    # Weight 0: recency only; decay 0: uniform.
    recency = np.exp(np.arange(4) - 3.0)
    np.testing.assert_allclose(rank_weights(losses, 1.0, 0.0), recency / recency.sum())
    np.testing.assert_allclose(rank_weights(losses, 0.0, 0.5), np.full(4, 0.25))


def test_adversarial_share_grows_with_the_pool_then_caps():
    mixes = [training_mix(200 * k, 1000, 0.8) for k in range(1, 6)]
    assert mixes == [(200, 800), (400, 600), (600, 400), (800, 200), (800, 200)]
    assert [training_mix(4 * k, 8, 0.75) for k in (1, 2, 3)] == [(4, 4), (6, 2), (6, 2)]


def test_filling_the_share_repeats_a_small_pool_evenly():
    assert [training_mix(100 * k, 3200, 0.5, fill=True) for k in (1, 8, 20)] == [
        (1600, 1600),
        (1600, 1600),
        (1600, 1600),
    ]
    assert training_mix(0, 3200, 0.5, fill=True) == (0, 3200)
    pool = pd.DataFrame({"latest_loss": [0.1, math.inf, 2.0]})
    adversarial, clean = sample_training_set(
        pool, 100, 16, 0.5, 0.005, 0.5, np.random.default_rng(0), fill=True
    )
    # 8 slots from 3 rows: every row twice, then 2 distinct rows drawn by rank weight.
    counts = np.bincount(adversarial, minlength=3)
    assert len(adversarial) == 8 and sorted(counts) == [2, 3, 3]
    assert len(clean) == 8 and len(set(clean)) == 8
    # Without fill the pool caps the share, as in the paper.
    adversarial, clean = sample_training_set(
        pool, 100, 16, 0.5, 0.005, 0.5, np.random.default_rng(0)
    )
    assert sorted(adversarial) == [0, 1, 2] and len(clean) == 13


def test_ramp_is_linear_from_the_first_round_to_the_last():
    assert [attack_iterations(k, 8, 64, horizon=5) for k in range(1, 6)] == [8, 22, 36, 50, 64]
    assert [attack_iterations(k, 8, 64, ramp=False, horizon=None) for k in range(1, 6)] == [64] * 5
    assert [attack_iterations(k, 8, 64, horizon=3) for k in range(1, 6)] == [8, 36, 64, 64, 64]
    assert attack_iterations(1, 8, 64, horizon=1) == 8
    with pytest.raises(ValueError, match="not a training round"):
        attack_iterations(0, 8, 64, horizon=5)
    with pytest.raises(ValueError, match="needs its horizon"):
        attack_iterations(1, 8, 64, horizon=None)


def test_the_ramp_horizon_is_the_last_round_unless_pinned():
    assert ramp_horizon(None, 12) == 12
    assert ramp_horizon(6, 12) == 6


def test_ramp_truncates_as_the_paper_does():
    """start + int(i · rate), not rounding: 4 -> 10 over six rounds is 4, 5, 6, 7, 8, 10 (a
    rounded ramp would give 8 and 9 in rounds 4 and 5); the paper's float arithmetic is kept,
    last-round shortfall included."""
    assert [attack_iterations(k, 4, 10, horizon=6) for k in range(1, 8)] == [
        4,
        5,
        6,
        7,
        8,
        10,
        10,
    ]
    assert attack_iterations(250, 1024, 2048, horizon=250) == 2047
    assert attack_iterations(60, 8, 64, horizon=60) == 64


def test_rounds_per_size_follow_the_papers_rule():
    sizes = ["14m", "31m", "70m", "160m", "410m", "1b", "1.4b", "2.8b"]
    params = {size: HUB_FAMILIES["pythia"].sizes[size].classifier_params for size in sizes}

    def rounds(spec):
        return [number_of_rounds(spec, size, sizes, params[size]) for size in sizes]

    gcg = {"rounds_times_params": 7.3e9, "min": 5, "max": 60}
    assert rounds(gcg) == [60, 60, 60, 59, 21, 8, 6, 5]
    assert rounds({**gcg, "max": 250}) == [250, 250, 163, 59, 21, 8, 6, 5]
    assert rounds(3) == [3] * 8
    assert rounds(list(range(1, 9))) == list(range(1, 9))
    assert number_of_rounds({"14m": 7}, "14m", sizes, 1) == 7
    with pytest.raises(ValueError, match="2 entries but there are 8 sizes"):
        rounds([1, 2])
    with pytest.raises(ValueError, match="no count for size '31m'"):
        number_of_rounds({"14m": 7}, "31m", sizes, 1)


def test_evaluation_rounds_are_geometric_and_end_at_the_last():
    assert evaluation_rounds(60) == [0, 1, 2, 3, 4, 6, 9, 15, 24, 38, 60]
    assert evaluation_rounds(5) == [0, 1, 2, 3, 4, 5]
    assert evaluation_rounds(1) == [0, 1]
    for n_rounds in range(1, 300):
        rounds = evaluation_rounds(n_rounds)
        assert rounds[-1] == n_rounds and rounds == sorted(set(rounds))
        assert len(rounds) == 1 + min(10, n_rounds)


@pytest.mark.parametrize(
    "placement",
    [Placement(overwritable_chunk=1), *(Placement(position=p) for p in (1.0, 0.0, 0.9))],
    ids=lambda p: p.name,
)
def test_with_attack_puts_the_text_where_attacks_do(placement):
    synthetic = password_match(english_words(), 2, 2)[1][0]
    natural = replace(synthetic, content=("Dear friend, win money", " now! Reply today."))
    for example in (synthetic, natural):
        if placement.overwritable_chunk is not None and example is natural:
            continue
        attacked = with_attack(example, placement, " @@X@@")
        before, after = attack_context(example, placement)
        assert model_input(attacked) == before + " @@X@@" + after
        assert attacked.clf_label == example.clf_label


@pytest.fixture(scope="module")
def round0(neox_dir, tmp_path_factory) -> Path:
    """A finetuned-model directory as the finetune stage writes it (random head here)."""
    path = tmp_path_factory.mktemp("models") / "round0"
    tokenizer = load_tokenizer(neox_dir)
    torch.manual_seed(1)
    load_classifier(neox_dir, tokenizer.pad_token_id, torch.float32, CPU).save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "metrics.json").write_text(json.dumps({"pretrain_flops": 12345, "n_params": 0}))
    return path


@pytest.fixture(scope="module")
def splits() -> tuple[list[Example], list[Example]]:
    return password_match(english_words(), 32, 16)


def _round(k, previous: Path, out: Path, splits, seed=0, resume=None, settings=SETTINGS) -> dict:
    with torch.random.fork_rng():  # the round must not depend on the global RNG
        torch.manual_seed(k + 100)
        return adversarial_round(
            k,
            previous,
            *splits,
            out,
            settings,
            placement=get_task("password_match").placement,
            include_instructions=False,
            seed=seed,
            sampler=None,
            device=CPU,
            dtype=torch.float32,
            resume=resume,
            log=LOG,
        )


@pytest.fixture(scope="module")
def chain(round0, splits) -> list[Path]:
    """Rounds 0, 1 and 2, run straight through without checkpoints."""
    dirs = [round0, round0.parent / "round1", round0.parent / "round2"]
    for k in (1, 2):
        _round(k, dirs[k - 1], dirs[k], splits)
    return dirs


def _metrics(path: Path) -> dict:
    return json.loads((path / "metrics.json").read_text())


def test_two_round_chain_grows_the_pool_and_adds_up_defense_flops(chain, splits):
    first, second = _metrics(chain[1]), _metrics(chain[2])
    assert [first["attack_iterations"], second["attack_iterations"]] == [1, 2]
    assert [first["pool_size"], second["pool_size"]] == [4, 8]
    assert [(m["n_adv"], m["n_clean"]) for m in (first, second)] == [(4, 4), (6, 2)]
    assert first["steps"] == second["steps"] == 2
    for metrics in (first, second):
        assert metrics["adversarial_generation_flops"] > 0 and metrics["training_flops"] > 0
        assert metrics["pretrain_flops"] == 12345 and metrics["n_val"] == 16
        assert 0.0 <= metrics["clean_accuracy"] <= 1.0
    assert first["defense_flops_cumulative"] == (
        first["training_flops"] + first["adversarial_generation_flops"]
    )
    assert second["defense_flops_cumulative"] == (
        first["defense_flops_cumulative"]
        + second["training_flops"]
        + second["adversarial_generation_flops"]
    )

    pool1, pool2 = (pd.read_parquet(path / "pool.parquet") for path in chain[1:])
    assert pool2["round_added"].tolist() == [1] * 4 + [2] * 4
    keep = [c for c in pool1.columns if c != "latest_loss"]
    pd.testing.assert_frame_equal(pool2.iloc[:4][keep], pool1[keep])
    assert np.isfinite(pool1["latest_loss"]).all()  # round 1 trained on its whole pool
    assert np.isfinite(pool2["latest_loss"]).sum() >= 6
    train = splits[0]
    new = [json.loads(line) for line in (chain[2] / "adversarial_examples.jsonl").open()]
    assert len(new) == 4 and all(row["round_added"] == 2 for row in new)
    for row in new:
        clean = train[row["train_index"]]
        attacked = Example.from_row(row)
        assert attacked.clf_label == clean.clf_label  # true labels, no success filter
        assert attacked == with_attack(
            clean, get_task("password_match").placement, row["attack_text"]
        )


def test_more_epochs_per_round_train_longer_on_the_same_examples(chain, splits, tmp_path):
    _round(1, chain[0], tmp_path / "round1", splits, settings=replace(SETTINGS, epochs_per_round=3))
    once, thrice = _metrics(chain[1]), _metrics(tmp_path / "round1")
    assert thrice["steps"] == 3 * once["steps"]
    assert thrice["training_flops"] == pytest.approx(3 * once["training_flops"], rel=0.25)
    assert thrice["adversarial_generation_flops"] == once["adversarial_generation_flops"]
    pool1, pool3 = (
        pd.read_parquet(path / "pool.parquet") for path in (chain[1], tmp_path / "round1")
    )
    pd.testing.assert_frame_equal(
        pool1.drop(columns="latest_loss"), pool3.drop(columns="latest_loss")
    )
    assert np.isfinite(pool3["latest_loss"]).all()
    assert (pool3["latest_loss"].to_numpy() != pool1["latest_loss"].to_numpy()).all()


def test_a_filled_share_trains_every_pool_row_twice(chain, splits, tmp_path):
    settings = replace(SETTINGS, max_augmented_data_size=16, adv_share=0.5, fill_adv_share=True)
    out = tmp_path / "round1"
    _round(1, chain[0], out, splits, settings=settings)
    metrics = _metrics(out)
    assert (metrics["n_adv"], metrics["n_clean"]) == (8, 8)  # 4 attacked examples, each twice
    pool = pd.read_parquet(out / "pool.parquet")
    assert len(pool) == SETTINGS.examples_per_round
    assert np.isfinite(pool["latest_loss"]).all()
    assert metrics["steps"] == 16 // SETTINGS.batch_size


def test_same_seed_same_bytes(chain, splits, tmp_path):
    _round(1, chain[0], tmp_path / "round1", splits)
    for name in FILES:
        assert (tmp_path / "round1" / name).read_bytes() == (chain[1] / name).read_bytes()


def test_killed_round_resumes_to_the_same_bytes(chain, splits, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO, LOG.name)
    out, resume = tmp_path / "round2", tmp_path / "resume"
    original_run, runs = Attack.run, []

    def dies_on_second_chunk(self, *args, **kwargs):
        runs.append(1)
        if len(runs) == 2:
            raise KeyboardInterrupt("killed while attacking")
        return original_run(self, *args, **kwargs)

    monkeypatch.setattr(Attack, "run", dies_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        _round(2, chain[1], out, splits, resume=resume)
    assert (resume / "attack_state.pt").exists() and not out.exists()
    monkeypatch.setattr(Attack, "run", original_run)

    original_pad, batches = round_module.pad_batch, []

    def dies_on_second_step(*args, **kwargs):
        batches.append(1)
        if len(batches) == 3:  # two microbatches per step: the first call of step 2
            raise KeyboardInterrupt("killed while training")
        return original_pad(*args, **kwargs)

    monkeypatch.setattr(round_module, "pad_batch", dies_on_second_step)
    with pytest.raises(KeyboardInterrupt):
        _round(2, chain[1], out, splits, resume=resume)
    assert (resume / "train.pt").exists() and not out.exists()
    monkeypatch.setattr(round_module, "pad_batch", original_pad)

    _round(2, chain[1], out, splits, resume=resume)
    assert "attack resumed from" in caplog.text and "at step 1/2" in caplog.text
    for name in FILES:
        assert (out / name).read_bytes() == (chain[2] / name).read_bytes(), name
    assert not any(resume.iterdir())


def test_a_round_killed_under_other_settings_starts_afresh(chain, splits, tmp_path, monkeypatch):
    """Killed while generating its attacks, then while training, under one learning rate, and
    rerun under another (as Snakemake reruns a job whose params changed): each time the resume
    checkpoint is discarded with a log line, and the round equals a fresh run under the new
    settings, byte for byte."""
    other = replace(SETTINGS, learning_rate=3e-3)
    fresh = _job_round(chain, splits, tmp_path / "fresh", k=2, settings=other)
    kills = {
        "attacking": (Attack, "run", 2),
        "training": (round_module, "pad_batch", 3),  # two microbatches per step: step 2
    }
    for moment, (owner, name, dies_at) in kills.items():
        original, calls = getattr(owner, name), []

        def dies(*args, original=original, calls=calls, dies_at=dies_at, moment=moment, **kwargs):
            calls.append(1)
            if len(calls) == dies_at:
                raise KeyboardInterrupt(f"killed while {moment}")
            return original(*args, **kwargs)

        folder = tmp_path / moment
        monkeypatch.setattr(owner, name, dies)
        with pytest.raises(KeyboardInterrupt):
            _job_round(chain, splits, folder, k=2)
        monkeypatch.setattr(owner, name, original)
        assert any((folder / "resume").glob("*.pt")), moment
        out = _job_round(chain, splits, folder, k=2, settings=other)
        log = (folder / "round2.log").read_text()
        assert "made with other settings, code or inputs: starting afresh" in log, moment
        assert "resumed from" not in log, moment
        for file in FILES:
            assert (out / file).read_bytes() == (fresh / file).read_bytes(), (moment, file)
        assert not (folder / "resume").exists()  # removed once the job succeeds


def _job_round(
    chain, splits, folder: Path, autocast: str | None = None, k: int = 1, settings=SETTINGS
) -> Path:
    """Round k through its rule's entry, from plain values as the workflow's script passes them
    (the resume folder bound to the job's settings)."""
    paths = folder / "train.jsonl", folder / "validation.jsonl"
    for path, examples in zip(paths, splits, strict=True):
        write_split(path, examples)
    out, log = folder / f"round{k}", folder / f"round{k}.log"
    job = {
        "task": "password_match",
        "seed": 0,
        "rounds": [k],
        "settings": asdict(settings),
        "n_train": 32,
        "n_val": 16,
        "task_settings": {"include_instructions": False},
        "sampler": None,
        "outs": [str(out)],
        "resume": [str(folder / "resume")],
    }
    rule = SimpleNamespace(
        log=[str(log)],
        input=[str(chain[k - 1]), *map(str, paths)],
        threads=1,
        resources={},
        params=SimpleNamespace(
            job=job, precision={"autocast": autocast}, runtime={"device": "cpu"}
        ),
    )
    run_rule_here(
        rule,
        AdversarialRounds,
        ("adversarial_training", "resume"),
        previous=str(chain[k - 1]),
        train=str(paths[0]),
        validation=str(paths[1]),
    )
    return out


def test_the_job_reads_its_files_and_settings(chain, splits, tmp_path):
    out = _job_round(chain, splits, tmp_path)
    assert "round 1: gcg with 1 iterations" in (tmp_path / "round1.log").read_text()
    for name in FILES:
        assert (out / name).read_bytes() == (chain[1] / name).read_bytes(), name


def test_a_mixed_precision_round_is_reproducible_and_keeps_float32_weights(chain, splits, tmp_path):
    outs = [_job_round(chain, splits, tmp_path / str(i), "bfloat16") for i in (0, 1)]
    for name in FILES:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    assert (outs[0] / "model.safetensors").read_bytes() != (
        chain[1] / "model.safetensors"
    ).read_bytes()
    saved = load_file(outs[0] / "model.safetensors")
    assert {tensor.dtype for tensor in saved.values()} == {torch.float32}
