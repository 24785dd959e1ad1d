"""Build a task's splits from the study config: synthetic tasks are generated, others loaded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from robustness_scaling.tasks import Example, get_task
from robustness_scaling.tasks.base import shuffled
from robustness_scaling.tasks.natural import load_natural_task
from robustness_scaling.tasks.registry import HUB_SOURCES
from robustness_scaling.tasks.synthetic import password_match, word_length
from robustness_scaling.tasks.words import english_words

_GENERATORS = {
    "password_match": password_match,
    "password_match_generation": password_match,
    "word_length": word_length,
}


def make_splits(name: str, settings: Mapping[str, Any]) -> dict[str, list[Example]]:
    """``{"train": [...], "validation": [...]}`` for task ``name``.

    ``settings`` is the task's slice of the config: ``seed``, ``train_size`` / ``val_size`` for
    synthetic tasks, generated and shuffled with ``seed``; ``source``, ``revision``, ``files``,
    ``columns``, ``splits`` and ``shuffle`` for the others, kept in their order unless
    ``shuffle``.
    """
    task = get_task(name)
    seed = settings.get("seed", 0)
    if name in _GENERATORS:
        train, validation = _GENERATORS[name](
            english_words(), settings["train_size"], settings["val_size"], seed
        )
        return {"train": shuffled(train, seed), "validation": shuffled(validation, seed)}
    hub = HUB_SOURCES[name]
    return load_natural_task(
        task,
        source=settings.get("source", hub.name),
        revision=settings.get("revision", hub.revision),
        files=settings.get("files"),
        columns=settings.get("columns"),
        splits=settings.get("splits"),
        seed=seed,
        shuffle=settings.get("shuffle", False),
    )
