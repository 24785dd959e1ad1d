"""The attack stage: budgets continue each other exactly, and a killed cell resumes exactly."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from rule_runner import run_rule_here

from robustness_scaling.attacks import Attack
from robustness_scaling.attacks.cell import AttackCell, run_attack_cell
from robustness_scaling.attacks.resumable import AttackFiles
from robustness_scaling.jobs.attack import Attacks
from robustness_scaling.models.load import load_classifier, load_tokenizer
from robustness_scaling.splits import write_split
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


def _run(cell, classifier_dir, examples, budgets, folder: Path, key="k", resume=None):
    outs = {
        b: AttackFiles(folder / f"budget{b}.parquet", folder / f"budget{b}.state.pt")
        for b in budgets
    }
    run_attack_cell(
        cell,
        "password_match",
        examples,
        {"include_instructions": False},
        classifier_dir,
        outs,
        None,
        META,
        resume=resume or folder / "resume",
        store=folder / "store",
        key=key,
        device=CPU,
        dtype=torch.float32,
        log=LOG,
    )
    return {b: files.records for b, files in outs.items()}


def test_budget_cell_records_iterations_and_metadata(classifier_dir, examples, tmp_path):
    records = pd.read_parquet(_run(GCG, classifier_dir, examples, [2], tmp_path)[2])
    assert sorted(records["iteration"].unique()) == [0, 1, 2]
    assert (records["n_val"] == 12).all() and (records["attack"] == "gcg").all()
    assert (records["position"] == "chunk").all() and (records["round"] == 0).all()
    assert len(records) == 3 * records["n_attacked"].iloc[0] > 0
    assert (records.loc[records["iteration"] == 0, "success"] == False).all()  # noqa: E712
    assert (records["precision"] == "float32").all()


def test_each_budget_of_a_ladder_equals_a_fresh_run_of_it(classifier_dir, examples, tmp_path):
    ladder = _run(GCG, classifier_dir, examples, [1, 3], tmp_path / "ladder")
    for budget in (1, 3):
        fresh = _run(GCG, classifier_dir, examples, [budget], tmp_path / f"fresh{budget}")
        assert fresh[budget].read_bytes() == ladder[budget].read_bytes()


def test_an_added_budget_computes_only_the_increment(
    classifier_dir, examples, tmp_path, monkeypatch
):
    """Snakemake deletes a job's outputs before rerunning it: the rerun restores the budgets
    the store holds, attacks only from the largest of them on, and gives the same bytes."""
    folder = tmp_path / "cell"
    first = _run(GCG, classifier_dir, examples, [1, 2], folder)
    kept = {b: path.read_bytes() for b, path in first.items()}
    for path in folder.glob("budget*"):
        path.unlink()
    iterations = []
    original = Attack.run

    def counting(self, *args, **kwargs):
        iterations.append(kwargs["n_iterations"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Attack, "run", counting)
    again = _run(GCG, classifier_dir, examples, [1, 2, 4], folder)
    assert iterations == [2]  # iterations 3 and 4 only
    assert {b: again[b].read_bytes() for b in (1, 2)} == kept
    straight = _run(GCG, classifier_dir, examples, [4], tmp_path / "straight")
    assert again[4].read_bytes() == straight[4].read_bytes()


def test_a_store_made_under_another_key_is_not_used(classifier_dir, examples, tmp_path, caplog):
    folder = tmp_path / "cell"
    _run(GCG, classifier_dir, examples, [1], folder, key="old settings")
    other = AttackCell(**{**GCG.__dict__, "options": {**GCG.options, "top_k": 8}})
    with caplog.at_level(logging.INFO, logger="test"):
        changed = _run(other, classifier_dir, examples, [1], folder, key="new settings")
    assert "made with other settings, code or inputs: starting afresh" in caplog.text
    fresh = _run(other, classifier_dir, examples, [1], tmp_path / "fresh", key="new settings")
    assert changed[1].read_bytes() == fresh[1].read_bytes()


def test_killed_cell_resumes_from_its_checkpoint(classifier_dir, examples, tmp_path, monkeypatch):
    cell = AttackCell(**{**GCG.__dict__, "checkpoint_iterations": 1})
    straight = _run(cell, classifier_dir, examples, [1, 3], tmp_path / "straight")

    original, calls = Attack.run, []

    def dies_on_third_chunk(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Attack, "run", dies_on_third_chunk)
    resume = tmp_path / "resume"
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        _run(cell, classifier_dir, examples, [1, 3], killed, resume=resume)
    assert (resume / "attack_state.pt").exists()
    for path in killed.glob("budget*"):  # as Snakemake removes a failed job's outputs
        path.unlink()
    monkeypatch.setattr(Attack, "run", original)
    resumed = _run(cell, classifier_dir, examples, [1, 3], killed, resume=resume)
    assert {b: p.read_bytes() for b, p in resumed.items()} == {
        b: p.read_bytes() for b, p in straight.items()
    }
    assert not resume.exists()


def test_a_checkpoint_under_another_key_is_discarded(classifier_dir, examples, tmp_path, caplog):
    """A killed job rerun under other settings starts afresh: the result equals a fresh run
    under the new settings."""
    cell = AttackCell(**{**GCG.__dict__, "checkpoint_iterations": 1})
    resume = tmp_path / "resume"
    resume.mkdir()
    (resume / "key").write_text("old settings")
    (resume / "attack_state.pt").write_bytes(b"not a state")
    with caplog.at_level(logging.INFO, logger="test"):
        rerun = _run(cell, classifier_dir, examples, [2], tmp_path / "rerun", "new", resume)
    assert "the checkpoint in" in caplog.text and "starting afresh" in caplog.text
    fresh = _run(cell, classifier_dir, examples, [2], tmp_path / "fresh", "new")
    assert rerun[2].read_bytes() == fresh[2].read_bytes()


def test_examples_longer_than_the_context_are_dropped_and_counted(
    classifier_dir, examples, tmp_path, caplog
):
    """The finetuning rule (context minus the paper's margin): an over-long example is not
    attacked, the log counts it, and the others keep their row numbers as example ids."""
    import dataclasses

    long = dataclasses.replace(examples[0], content=("password " * 800,))
    with caplog.at_level(logging.INFO, logger="test"):
        out = _run(GCG, classifier_dir, [long, *examples[1:]], [1], tmp_path / "cell")
    records = pd.read_parquet(out[1])
    assert 0 not in set(records["example_id"]) and (records["n_val"] == len(examples) - 1).all()
    assert "; 1 dropped as longer than" in caplog.text


def test_no_example_that_fits_stops_the_cell(classifier_dir, examples, tmp_path):
    import dataclasses

    from robustness_scaling.errors import InputError

    long = [dataclasses.replace(e, content=("password " * 800,)) for e in examples]
    with pytest.raises(InputError, match=r"none of the \d+ validation examples fits .*context"):
        _run(GCG, classifier_dir, long, [1], tmp_path / "cell")
    assert not (tmp_path / "cell" / "budget1.parquet").exists()


LADDERS = {
    "gcg": ({"n_candidates": 8, "top_k": 16, "n_attack_tokens": 3}, [1, 2]),
    "random_token": ({"n_attack_tokens": 3}, [3]),
    "beast": ({"beam_width": 2, "branch_factor": 2}, [2]),
}


def _attacks_job(names, classifier_dir, sampler, validation, folder: Path) -> dict[Path, bytes]:
    """One attack job running ``names``' ladders, through the workflow's entry point; returns
    the bytes of every output, by its path under ``folder``."""
    folder.mkdir(parents=True)
    specs = [
        {
            "attack": name,
            "settings": {
                "method": name,
                "options": LADDERS[name][0],
                "n_val": 12,
                "checkpoint_iterations": 1,
            },
            "budgets": LADDERS[name][1],
            "sampler": str(sampler) if name == "beast" else None,
            "resume": str(folder / "resume" / name),
            "store": str(folder / "store" / name),
        }
        for name in names
    ]
    outs = {
        kind: {name: [f"{folder}/{name}{b}.{kind}" for b in LADDERS[name][1]] for name in names}
        for kind in ("parquet", "pt")
    }
    job = {**META, "task_settings": {"include_instructions": False}, "attacks": specs}
    rule = SimpleNamespace(
        log=[str(folder / "job.log")],
        input=[str(classifier_dir), str(validation)],
        threads=1,
        resources={},
        params=SimpleNamespace(job=job, precision={"autocast": "float32"}, runtime={}),
    )
    run_rule_here(
        rule,
        Attacks,
        ("attack",),
        model=str(classifier_dir),
        validation=str(validation),
        records=outs["parquet"],
        states=outs["pt"],
    )
    return {
        path.relative_to(folder): path.read_bytes()
        for path in sorted(folder.glob("*.*"))
        if path.suffix in (".parquet", ".pt")
    }


def test_one_job_of_every_attack_writes_what_a_job_per_attack_writes(
    classifier_dir, neox_dir, examples, tmp_path
):
    """``attack_jobs: per_model`` runs the attacks one after another in one process: nothing
    one leaves behind (random state, loaded models, precision) may change the next's records."""
    validation = tmp_path / "validation.jsonl"
    write_split(validation, examples)
    together = _attacks_job(list(LADDERS), classifier_dir, neox_dir, validation, tmp_path / "one")
    assert len(together) == 2 * 4
    assert len(pd.read_parquet(tmp_path / "one" / "beast2.parquet")) > 0
    for name in LADDERS:
        alone = _attacks_job([name], classifier_dir, neox_dir, validation, tmp_path / name)
        assert alone == {path: together[path] for path in alone}, name
    log = (tmp_path / "one" / "job.log").read_text()
    assert "gcg iteration 2/2" in log and "beast iteration 2/2" in log
