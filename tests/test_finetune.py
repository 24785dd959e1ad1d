"""Finetuning: metrics are accounted right, runs are byte-reproducible, a killed job resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robustness_scaling.splits import write_split
from robustness_scaling.tasks.synthetic import password_match
from robustness_scaling.tasks.words import english_words

SETTINGS = {
    "n_train": 64,
    "n_val": 32,
    "epochs": 1,
    "batch_size": 8,
    "minibatch_size": 4,
    "eval_batch_size": 16,
    "optimizer": "adafactor",
    "learning_rate": 1e-3,
    "schedule": "linear",
    "warmup_fraction": 0.0,
    "weight_decay": 0.0,
    "checkpoint_seconds": 0,
}
JOB = """
import json, sys
from types import SimpleNamespace
from robustness_scaling.jobs.entry import run_rule
from robustness_scaling.jobs.finetune import Finetune
model, train, validation, out, resume, log, settings = sys.argv[1:]
settings = json.loads(settings)
job = {
    "family": "tiny", "size": "s", "task": "password_match", "seed": 0, "model_source": model,
    "task_settings": {"include_instructions": False},
    "settings": {k: v for k, v in settings.items() if k not in ("n_train", "n_val")},
    "n_train": settings["n_train"], "n_val": settings["n_val"], "resume": resume,
}
rule = SimpleNamespace(
    log=[log], input=[model, train, validation], threads=1, resources={},
    params=SimpleNamespace(job=job, precision={"autocast": "float32"}, runtime={"device": "cpu"}),
)
run_rule(rule, Finetune, train=train, validation=validation, out=out)
"""


@pytest.fixture(scope="module")
def splits(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("data")
    train, validation = password_match(english_words(), 2048, 64)
    write_split(folder / "train.jsonl", train)
    write_split(folder / "validation.jsonl", validation)
    return folder / "train.jsonl", folder / "validation.jsonl"


def _job(neox_dir, splits, out: Path, settings: dict) -> list[str]:
    args = [str(neox_dir), *map(str, splits), str(out), str(out) + ".resume", str(out) + ".log"]
    return [sys.executable, "-c", JOB, *args, json.dumps(settings)]


def _run(neox_dir, splits, out: Path, settings: dict) -> None:
    subprocess.run(_job(neox_dir, splits, out, settings), check=True)


def test_metrics_account_steps_and_flops(neox_dir, splits, tmp_path):
    _run(neox_dir, splits, tmp_path / "model", SETTINGS)
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["steps"] == 64 // 8 == len(metrics["loss_curve"])
    assert metrics["n_train"] == 64 and metrics["n_val"] == 32
    assert 0.0 <= metrics["clean_accuracy"] <= 1.0
    assert metrics["training_flops"] == 6 * metrics["n_params"] * metrics["training_tokens"]
    assert metrics["pretrain_flops"] == 0  # the random test LM has no pretraining record
    assert (tmp_path / "model" / "model.safetensors").is_file()
    assert (tmp_path / "model" / "tokenizer.json").is_file()
    assert not Path(str(tmp_path / "model") + ".resume").exists()  # removed once the job succeeds


def test_same_seed_same_bytes(neox_dir, splits, tmp_path):
    for name in ("a", "b"):
        _run(neox_dir, splits, tmp_path / name, SETTINGS)
    for file in ("model.safetensors", "metrics.json"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()


def _kill_after_a_checkpoint(neox_dir, splits, out: Path, settings: dict) -> Path:
    """Start the job, SIGKILL its process group a few steps after its first checkpoint;
    return the checkpoint it leaves."""
    checkpoint = Path(str(out) + ".resume") / "train.pt"
    job = subprocess.Popen(_job(neox_dir, splits, out, settings), start_new_session=True)
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.2)  # let it get a few steps in
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert job.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    assert checkpoint.exists() and not out.exists()
    return checkpoint


LONG = {**SETTINGS, "n_train": 1024}  # 128 steps, a checkpoint after each


def test_killed_finetune_resumes_to_the_same_weights(neox_dir, splits, tmp_path):
    _run(neox_dir, splits, tmp_path / "straight", LONG)
    out = tmp_path / "resumed"
    _kill_after_a_checkpoint(neox_dir, splits, out, LONG)
    _run(neox_dir, splits, out, LONG)
    assert "resumed from" in Path(str(out) + ".log").read_text()
    for file in ("model.safetensors", "metrics.json"):
        assert (out / file).read_bytes() == (tmp_path / "straight" / file).read_bytes()


def test_a_checkpoint_of_other_settings_is_not_continued(neox_dir, splits, tmp_path):
    """Killed under one learning rate, rerun under another (as Snakemake reruns a job whose
    params changed): the checkpoint is discarded with a log line, and the model is a fresh
    run's under the new settings, byte for byte."""
    other = {**LONG, "learning_rate": 3e-3}
    _run(neox_dir, splits, tmp_path / "fresh", other)
    out = tmp_path / "changed"
    _kill_after_a_checkpoint(neox_dir, splits, out, LONG)
    _run(neox_dir, splits, out, other)
    log = Path(str(out) + ".log").read_text()
    assert "was made with other settings, code or inputs: starting afresh" in log
    assert "resumed from" not in log
    for file in ("model.safetensors", "metrics.json"):
        assert (out / file).read_bytes() == (tmp_path / "fresh" / file).read_bytes()


def test_activation_checkpointing_saves_memory_not_results(neox_dir, splits, tmp_path):
    """Recomputing activations in the backward pass is the same arithmetic: same weights,
    same loss curve, same counted FLOPs."""
    _run(neox_dir, splits, tmp_path / "kept", SETTINGS)
    _run(neox_dir, splits, tmp_path / "recomputed", {**SETTINGS, "activation_checkpointing": True})
    kept, recomputed = (
        json.loads((tmp_path / name / "metrics.json").read_text())
        for name in ("kept", "recomputed")
    )
    assert "activation checkpointing" in Path(str(tmp_path / "recomputed") + ".log").read_text()
    for key in ("loss_curve", "training_flops", "clean_accuracy"):
        assert kept[key] == recomputed[key], key
    assert (tmp_path / "kept/model.safetensors").read_bytes() == (
        tmp_path / "recomputed/model.safetensors"
    ).read_bytes()


def test_rows_longer_than_the_context_are_dropped_and_counted_and_none_left_stops(
    neox_dir, splits, tmp_path
):
    """As the paper does, examples longer than the context are dropped (counted in the log and
    metrics.json); a split of which none fits stops the job with one line saying so, before
    any training, and no traceback."""
    import dataclasses

    from robustness_scaling.splits import read_split

    train, validation = splits
    long_text = ("password " * 800,)
    rows = read_split(train)
    mixed = tmp_path / "mixed.jsonl"
    write_split(mixed, [dataclasses.replace(rows[0], content=long_text), *rows[1:]])
    _run(neox_dir, (mixed, validation), tmp_path / "kept", SETTINGS)
    metrics = json.loads((tmp_path / "kept/metrics.json").read_text())
    assert metrics["n_train_dropped"] == 1 and metrics["n_train"] == SETTINGS["n_train"] - 1
    assert "(1 dropped as longer than" in Path(str(tmp_path / "kept") + ".log").read_text()

    too_long = tmp_path / "too_long.jsonl"
    write_split(
        too_long, [dataclasses.replace(e, content=long_text) for e in read_split(validation)]
    )
    job = subprocess.run(_job(neox_dir, (train, too_long), tmp_path / "none", SETTINGS))
    assert job.returncode == 1
    log = Path(str(tmp_path / "none") + ".log").read_text()
    assert (
        f"error: none of the {SETTINGS['n_val']} validation examples fits the model's context"
        in log
    )
    assert "Traceback" not in log and "step 1/" not in log
    assert not (tmp_path / "none").exists()
