"""Code the library imports by name, never by an import statement.

A job's code fingerprint (:mod:`robustness_scaling.fingerprint`) covers the modules its stage
imports. The attack methods and the generation path (greedy answers and their judges) are
imported here by name instead, so a job's fingerprint covers only those it runs, and the
workflow adds them: an edit to BEAST reruns no GCG cell, an edit to a judge retrains no
classifier. Importing this module is cheap (no torch), as planning needs the module names.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robustness_scaling.generative.answers import GenerationCheck
    from robustness_scaling.tasks import Task

GENERATION = "robustness_scaling.generative.answers"


def method_module(method: str) -> str:
    """The module defining attack method ``method`` (``gcg``, ``random_token``, ``beast``).

    Found by its file, not by importing anything: planning calls this, and what this module
    imports is in the closure of every job that imports it."""
    if not (Path(__file__).parent / "attacks" / f"{method}.py").is_file():
        raise ValueError(f"unknown attack method {method!r}: no attacks/{method}.py")
    return f"robustness_scaling.attacks.{method}"


def generation_check(
    task: Task, settings: Mapping[str, Any], device: Any = "cpu", dtype: Any = None
) -> GenerationCheck | None:
    """A generation task's check (:func:`robustness_scaling.generative.answers.generation_check`);
    ``None`` for a classification task, whose job then never imports the generation code."""
    if not task.is_generation:
        return None
    return importlib.import_module(GENERATION).generation_check(task, settings, device, dtype)
