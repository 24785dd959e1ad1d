"""The offline family's pretraining job: its resume checkpoint serves only its own settings."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from rule_runner import run_rule_here

from robustness_scaling.jobs.pretrain import Pretrain
from robustness_scaling.splits import write_split
from robustness_scaling.tasks.synthetic import password_match
from robustness_scaling.tasks.words import english_words
from robustness_scaling.training import loop

SIZE = {"hidden_size": 16, "num_layers": 1, "num_heads": 2}
SETTINGS = {"steps": 6, "batch_size": 4, "block_size": 32, "checkpoint_seconds": 0}


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "train.jsonl"
    write_split(path, password_match(english_words(), 200, 2)[0])
    return path


def _pretrain(corpus: Path, tokenizer_dir: Path, folder: Path, settings: dict) -> Path:
    """One pretraining job through its rule's entry, as the workflow's script runs it."""
    folder.mkdir(parents=True, exist_ok=True)
    out, log = folder / "pretrained", folder / "pretrain.log"
    job = {"include_instructions": [False], "size": SIZE, "settings": settings}
    rule = SimpleNamespace(
        log=[str(log)],
        input=[str(corpus), str(tokenizer_dir)],
        threads=1,
        resources={},
        params=SimpleNamespace(
            job={**job, "resume": str(folder / "resume")},
            precision={"autocast": "float32"},
            runtime={"device": "cpu"},
        ),
    )
    run_rule_here(
        rule,
        Pretrain,
        ("pretrain", "resume"),
        corpus=[str(corpus)],
        tokenizer=str(tokenizer_dir),
        out=str(out),
    )
    return out


def test_a_checkpoint_of_other_settings_is_not_continued(
    corpus_file, tokenizer_dir, tmp_path, monkeypatch
):
    """Killed after its third checkpoint under one learning rate, rerun under another (as
    Snakemake reruns a job whose params changed): the checkpoint is discarded with a log line,
    and the model equals a fresh run's under the new settings, byte for byte; rerun under the
    same settings, it resumes."""
    other = {**SETTINGS, "learning_rate": 3e-3}
    fresh = _pretrain(corpus_file, tokenizer_dir, tmp_path / "fresh", other)
    save, saves = loop._save_checkpoint, []

    def killed_after_three(*args, **kwargs):
        save(*args, **kwargs)
        saves.append(1)
        if len(saves) == 3:
            raise KeyboardInterrupt("killed")

    for settings, says in ((other, "starting afresh"), (SETTINGS, "resumed from")):
        folder = tmp_path / says.replace(" ", "_")
        saves.clear()
        monkeypatch.setattr(loop, "_save_checkpoint", killed_after_three)
        with pytest.raises(KeyboardInterrupt):
            _pretrain(corpus_file, tokenizer_dir, folder, SETTINGS)
        monkeypatch.setattr(loop, "_save_checkpoint", save)
        assert (folder / "resume/train.pt").is_file()
        out = _pretrain(corpus_file, tokenizer_dir, folder, settings)
        assert says in (folder / "pretrain.log").read_text()
        assert not (folder / "resume").exists()  # removed once the job succeeds
        if settings is other:
            for file in ("model.safetensors", "metrics.json"):
                assert (out / file).read_bytes() == (fresh / file).read_bytes(), file
