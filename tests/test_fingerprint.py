"""Code fingerprints follow exactly the modules a job imports."""

from __future__ import annotations

import shutil

from robustness_scaling import fingerprint
from robustness_scaling.by_name import method_module
from robustness_scaling.fingerprint import code_fingerprint, module_closure


def test_closure_follows_imports_transitively():
    closure = module_closure("robustness_scaling.jobs.finetune")
    for module in (
        "training.finetune",
        "training.classify",
        "training.loop",
        "models.load",
        "tasks.synthetic",
        "flops",
        "atomic",
    ):
        assert f"robustness_scaling.{module}" in closure
    assert "robustness_scaling.jobs" in closure  # a package's __init__ runs on import


def test_attack_code_is_not_in_the_training_stages_fingerprints():
    for stage in ("task_data", "tokenizer", "pretrain", "finetune"):
        closure = module_closure(f"robustness_scaling.jobs.{stage}")
        assert not any("attack" in name for name in closure), stage


def test_a_job_fingerprints_the_one_attack_method_it_runs():
    methods = [method_module(method) for method in ("gcg", "random_token", "beast")]
    for stage in ("attack", "adversarial_round"):
        closure = module_closure(f"robustness_scaling.jobs.{stage}")
        assert "robustness_scaling.attacks.base" in closure
        assert not set(methods) & set(closure), stage
    assert "robustness_scaling.attacks.gcg" in module_closure(method_module("gcg"))


def _edited(package, name, edit):
    path = package / name
    path.write_text(edit(path.read_text()))
    module_closure.cache_clear()


def test_fingerprint_changes_when_and_only_when_imported_code_changes(tmp_path, monkeypatch):
    package = tmp_path / "robustness_scaling"
    shutil.copytree(fingerprint._ROOT, package)
    monkeypatch.setattr(fingerprint, "_ROOT", package)
    module_closure.cache_clear()
    stage = "robustness_scaling.jobs.finetune"
    before = code_fingerprint(stage)

    _edited(package, "flops.py", lambda text: text + "\n# a comment\n\n")
    _edited(package, "flops.py", lambda text: text.replace('"""', '"""Reworded. ', 1))
    _edited(package, "training/loop.py", lambda text: text.replace('    """', '    """Also: ', 1))
    assert code_fingerprint(stage) == before  # comments, docstrings and blank lines

    _edited(package, "flops.py", lambda text: text + "\nEDITED = 1\n")
    after_training_edit = code_fingerprint(stage)
    assert after_training_edit != before

    (package / "unrelated.py").write_text("X = 1\n")
    module_closure.cache_clear()
    assert code_fingerprint(stage) == after_training_edit
    _edited(package, "attacks/beast.py", lambda text: text + "\nEDITED = 1\n")
    gcg_cells = code_fingerprint("robustness_scaling.jobs.attack", method_module("gcg"))
    _edited(package, "attacks/beast.py", lambda text: text + "\nEDITED_AGAIN = 1\n")
    assert code_fingerprint("robustness_scaling.jobs.attack", method_module("gcg")) == gcg_cells
    module_closure.cache_clear()
