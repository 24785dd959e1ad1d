"""Code fingerprints follow exactly the modules a stage imports."""

from __future__ import annotations

import shutil

from robustness_scaling import fingerprint
from robustness_scaling.fingerprint import code_fingerprint, module_closure


def test_closure_follows_imports_transitively():
    closure = module_closure("robustness_scaling.stages.finetune_cell")
    for module in ("finetune", "training", "models", "tasks.synthetic", "flops", "atomic"):
        assert f"robustness_scaling.{module}" in closure
    assert "robustness_scaling.stages" in closure  # a package's __init__ runs on import


def test_attack_code_is_not_in_the_training_stages_fingerprints():
    for stage in ("task_data", "tiny_family", "finetune_cell"):
        closure = module_closure(f"robustness_scaling.stages.{stage}")
        assert not any("attack" in name for name in closure), stage
    assert "robustness_scaling.attacks.gcg" in module_closure(
        "robustness_scaling.stages.attack_cell"
    )


def test_fingerprint_changes_when_and_only_when_imported_code_changes(tmp_path, monkeypatch):
    package = tmp_path / "robustness_scaling"
    shutil.copytree(fingerprint._ROOT, package)
    monkeypatch.setattr(fingerprint, "_ROOT", package)
    module_closure.cache_clear()
    before = code_fingerprint("robustness_scaling.stages.finetune_cell")
    (package / "flops.py").write_text((package / "flops.py").read_text() + "\n# edited\n")
    module_closure.cache_clear()
    after_training_edit = code_fingerprint("robustness_scaling.stages.finetune_cell")
    assert after_training_edit != before
    unrelated = package / "unrelated.py"
    unrelated.write_text("X = 1\n")
    module_closure.cache_clear()
    assert code_fingerprint("robustness_scaling.stages.finetune_cell") == after_training_edit
    module_closure.cache_clear()
