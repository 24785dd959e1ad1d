"""Sharded training (FSDP2 over the processes torchrun starts, gloo on this CPU) against one
process: the same loss curve and weights, sharded checkpoints that resume exactly, one ordinary
model directory out; and the Adafactor that steps sharded parameters is transformers' update.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from robustness_scaling.jobs.adversarial_round import AdversarialRounds
from robustness_scaling.jobs.entry import run_rule
from robustness_scaling.jobs.finetune import Finetune
from robustness_scaling.jobs.sharded_launch import launch
from robustness_scaling.splits import write_split
from robustness_scaling.tasks.synthetic import password_match
from robustness_scaling.tasks.words import english_words
from robustness_scaling.training.adafactor import Adafactor

SETTINGS = {
    "optimizer": "adafactor",
    "learning_rate": 1e-3,
    "schedule": "linear",
    "epochs": 1,
    "batch_size": 8,
    "minibatch_size": 4,
    "eval_batch_size": 16,
    "checkpoint_seconds": 0,
}
RUNTIME = {"device": "cpu", "autocast": "float32", "threads": 2}
ONE_PROCESS = """
import json, sys
from robustness_scaling.jobs.entry import build
from robustness_scaling.jobs.adversarial_round import AdversarialRounds
from robustness_scaling.jobs.entry import run_rule
from robustness_scaling.jobs.finetune import Finetune
from robustness_scaling.runtime import Runtime
values, log = json.loads(sys.argv[1]), sys.argv[2]
build(Finetune, values).run(Runtime.resolve(device="cpu", autocast="float32", threads=2), log)
"""


@pytest.fixture(scope="module")
def unbiased_neox(tmp_path_factory, tokenizer_dir) -> Path:
    """A small GPT-NeoX without attention biases. A key bias gets a zero gradient in exact
    arithmetic (softmax does not see a shift shared by all keys), so its float noise, which
    differs with how the batch is split, is all Adafactor normalises (eps 1e-30): ±lr steps
    that change no output, but would hide a real difference in a weight comparison."""
    from conftest import save_random_lm
    from robustness_scaling.models.tiny import gpt_neox_config

    config = gpt_neox_config({"hidden_size": 32, "num_layers": 2, "num_heads": 2}, 300, 0)
    config.attention_bias = False
    path = save_random_lm(config, tmp_path_factory.mktemp("neox"), tokenizer_dir)
    (path / "metrics.json").write_text('{"pretrain_flops": 0}')
    return path


@pytest.fixture(scope="module")
def splits(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("data")
    train, validation = password_match(english_words(), 512, 32)
    write_split(folder / "train.jsonl", train)
    write_split(folder / "validation.jsonl", validation)
    return folder / "train.jsonl", folder / "validation.jsonl"


def _values(model: Path, splits, out: Path, n_train: int) -> dict:
    return {
        "family": "tiny",
        "size": "s",
        "task": "password_match",
        "seed": 0,
        "model_source": str(model),
        "task_settings": {"include_instructions": False},
        "settings": SETTINGS,
        "n_train": n_train,
        "n_val": 32,
        "train": str(splits[0]),
        "validation": str(splits[1]),
        "out": str(out),
        "resume": str(out) + ".resume",
    }


def _one_process(values: dict, log: Path) -> None:
    subprocess.run([sys.executable, "-c", ONE_PROCESS, json.dumps(values), str(log)], check=True)


def _as_a_rule_with_two_gpus(values: dict, log: Path) -> None:
    """What the finetune rule's script does when its resources say ``gpu: 2`` (on this CPU the
    two ranks use gloo): ``run_rule`` sees the count and launches torchrun."""
    from snakemake.iocontainers import ResourceList

    files = {key: values[key] for key in ("train", "validation", "out")}
    job = {key: value for key, value in values.items() if key not in files}
    rule = SimpleNamespace(
        log=[str(log)],
        params=SimpleNamespace(
            job=job, precision={"autocast": "float32"}, runtime={"device": "cpu"}
        ),
        resources=ResourceList(fromdict={"gpu": 2, "mem_mb": 1000}),
        threads=2,
    )
    stderr = sys.stderr
    try:
        run_rule(rule, Finetune, **files)
    finally:
        sys.stderr.close()
        sys.stderr = stderr


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def test_two_processes_train_the_weights_of_one(unbiased_neox, splits, tmp_path):
    """5 optimizer steps of 8 examples (2 microbatches of 4): in 2 processes each rank passes
    half of every microbatch, FSDP averages the gradients; float32 on both sides."""
    one, two = tmp_path / "one", tmp_path / "two"
    _one_process(_values(unbiased_neox, splits, one, 40), tmp_path / "one.log")
    _as_a_rule_with_two_gpus(_values(unbiased_neox, splits, two, 40), tmp_path / "two.log")

    log = (tmp_path / "two.log").read_text()
    assert "sharded over 2 processes (FSDP2)" in log
    a, b = _metrics(one), _metrics(two)
    assert a["steps"] == b["steps"] == 5
    assert b["loss_curve"] == pytest.approx(a["loss_curve"], rel=1e-4)
    for key in ("training_flops", "training_tokens", "n_params", "n_train"):
        assert a[key] == b[key], key
    assert b["provenance"]["processes"] == 2 and "processes" not in a["provenance"]
    weights_a = load_file(one / "model.safetensors")
    weights_b = load_file(two / "model.safetensors")  # one ordinary file, not shards
    assert weights_a.keys() == weights_b.keys()
    for name, tensor in weights_a.items():
        torch.testing.assert_close(weights_b[name], tensor, rtol=0, atol=1e-5, msg=name)
    start = load_file(unbiased_neox / "model.safetensors")
    moved = max((weights_a[n] - start[n]).abs().max() for n in weights_a if n in start)
    assert moved > 1e-3  # the comparison is of trained weights, not of untouched ones
    assert not Path(str(two) + ".resume/train.pt.sharded").exists()  # removed once the job succeeds


def test_killed_sharded_job_resumes_to_the_same_weights(unbiased_neox, splits, tmp_path):
    """Kill the whole 2-process job (torchrun and its ranks) after a sharded checkpoint, rerun:
    the same bytes as the uninterrupted 2-process run."""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    launch(Finetune, _values(unbiased_neox, splits, straight, 256), RUNTIME, tmp_path / "s.log", 2)

    values = _values(unbiased_neox, splits, resumed, 256)
    script = (
        "import json, sys\n"
        "from robustness_scaling.jobs.finetune import Finetune\n"
        "from robustness_scaling.jobs.sharded_launch import launch\n"
        "launch(Finetune, json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], 2)\n"
    )
    log = tmp_path / "r.log"
    args = [sys.executable, "-c", script, json.dumps(values), json.dumps(RUNTIME), str(log)]
    job = subprocess.Popen(args, start_new_session=True)
    latest = Path(values["resume"]) / "train.pt.sharded" / "latest"
    deadline = time.monotonic() + 180
    while not latest.exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)  # a few more steps and checkpoints
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert job.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    assert latest.exists() and not resumed.exists()

    launch(Finetune, values, RUNTIME, log, 2)
    assert "resumed from" in log.read_text()
    for file in ("model.safetensors", "metrics.json"):
        assert (resumed / file).read_bytes() == (straight / file).read_bytes(), file


def test_adafactor_is_transformers_update(neox_dir):
    """The paper's optimizer, rewritten to step sharded parameters, is transformers' Adafactor
    (no relative step, no parameter scaling) to the bit, with and without weight decay."""
    from transformers import AutoModelForCausalLM
    from transformers.optimization import Adafactor as Reference

    for weight_decay in (0.0, 0.1):
        ours, theirs = (AutoModelForCausalLM.from_pretrained(neox_dir) for _ in range(2))
        optimizers = (
            Adafactor(ours.parameters(), lr=1e-2, weight_decay=weight_decay),
            Reference(
                theirs.parameters(),
                lr=1e-2,
                scale_parameter=False,
                relative_step=False,
                weight_decay=weight_decay,
            ),
        )
        generator = torch.Generator().manual_seed(0)
        for _ in range(4):
            ids = torch.randint(0, 300, (4, 12), generator=generator)
            for model, optimizer in zip((ours, theirs), optimizers, strict=True):
                optimizer.zero_grad()
                model(input_ids=ids, labels=ids).loss.backward()
                optimizer.step()
        theirs_state = theirs.state_dict()
        for name, a in ours.state_dict().items():
            b = theirs_state[name]
            assert torch.equal(a, b), name


ROUND_SETTINGS = {
    "learning_rate": 1e-3,
    "batch_size": 4,
    "minibatch_size": 2,
    "eval_batch_size": 16,
    "examples_per_round": 4,
    "max_augmented_data_size": 8,
    "adv_share": 0.75,
    "attack_options": {"n_candidates": 8, "top_k": 16, "n_attack_tokens": 3},
    "ramp_start": 2,
    "ramp_end": 2,
    "ramp_rounds": 2,
    "checkpoint_seconds": 0,
    "checkpoint_iterations": 1,
}
ONE_PROCESS_ROUND = ONE_PROCESS.replace(
    "finetune import Finetune", "adversarial_round import AdversarialRounds"
).replace("build(Finetune", "build(AdversarialRounds")


@pytest.fixture(scope="module")
def round0(unbiased_neox, tmp_path_factory) -> Path:
    """A finetuned classifier directory, as the finetune stage writes it."""
    from robustness_scaling.models.load import load_classifier, load_tokenizer

    path = tmp_path_factory.mktemp("models") / "round0"
    tokenizer = load_tokenizer(unbiased_neox)
    torch.manual_seed(1)
    model = load_classifier(
        unbiased_neox, tokenizer.pad_token_id, torch.float32, torch.device("cpu")
    )
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "metrics.json").write_text(json.dumps({"pretrain_flops": 0, "n_params": 0}))
    return path


def _round_values(round0: Path, splits, folder: Path) -> dict:
    return {
        "task": "password_match",
        "seed": 0,
        "rounds": [1],
        "settings": ROUND_SETTINGS,
        "n_train": 32,
        "n_val": 16,
        "task_settings": {"include_instructions": False},
        "sampler": None,
        "previous": str(round0),
        "train": str(splits[0]),
        "validation": str(splits[1]),
        "outs": [str(folder / "round1")],
        "resume": [str(folder / "resume")],
    }


def test_a_sharded_adversarial_round_attacks_and_trains_as_one_process(round0, splits, tmp_path):
    """Round 1 in 2 processes: the attack runs on the sharded model (its embedding and head
    gathered), each rank trains on its slices, the per-example losses are gathered."""
    one, two = tmp_path / "one", tmp_path / "two"
    values_one = _round_values(round0, splits, one)
    one.mkdir()
    subprocess.run(
        [sys.executable, "-c", ONE_PROCESS_ROUND, json.dumps(values_one), str(one / "log")],
        check=True,
    )
    launch(AdversarialRounds, _round_values(round0, splits, two), RUNTIME, tmp_path / "two.log", 2)

    a, b = _metrics(one / "round1"), _metrics(two / "round1")
    assert a["steps"] == b["steps"] > 1
    assert b["loss_curve"] == pytest.approx(a["loss_curve"], rel=1e-4)
    for key in ("adversarial_success_rate", "training_flops", "adversarial_generation_flops"):
        assert a[key] == b[key], key
    examples = [(path / "round1/adversarial_examples.jsonl").read_text() for path in (one, two)]
    assert examples[0] == examples[1]  # the same attack strings
    pools = [pd.read_parquet(path / "round1/pool.parquet") for path in (one, two)]
    assert not pools[1]["latest_loss"].isna().any()
    np.testing.assert_allclose(pools[1]["latest_loss"], pools[0]["latest_loss"], rtol=1e-4)
    weights_a = load_file(one / "round1/model.safetensors")
    weights_b = load_file(two / "round1/model.safetensors")
    for name, tensor in weights_a.items():
        torch.testing.assert_close(weights_b[name], tensor, rtol=0, atol=1e-5, msg=name)
    resume = two / "resume"
    assert not resume.exists() or not any(resume.iterdir())  # checkpoints removed on success
