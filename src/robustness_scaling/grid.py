"""The study's grid as pure functions of a validated config: how many adversarial-training
rounds each cell makes and in which jobs, which rounds the evaluation attacks attack, and with
which settings and budgets.

The workflow plans its jobs with these (workflow/rules/grid.smk) and the cost plan
(:mod:`robustness_scaling.cost_plan`) prices the same jobs, so a plan can never count a grid
the workflow would not run. Nothing here loads a model or reads data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from robustness_scaling.adversarial_training.schedule import (
    evaluation_rounds,
    number_of_rounds,
    ramp_horizon,
)
from robustness_scaling.config import TINY, attack_evaluation, cells
from robustness_scaling.models.families import HUB_FAMILIES
from robustness_scaling.models.tiny import classifier_params
from robustness_scaling.tasks import get_task

Config = Mapping[str, Any]
"""A study config as :func:`robustness_scaling.config.validate_config` returns it."""

PLANNING_KEYS = ("rounds", "eval_rounds", "rounds_per_job")
"""Keys of ``adversarial_training`` that lay out the rounds but do not change what one makes."""


def classifier_params_of(config: Config, size: str) -> int:
    """A size's classifier parameter count, known while planning (no model is built): the
    paper's rounds × parameters rule needs it before any job runs."""
    if config["family"] == TINY:
        return classifier_params(config["tiny"]["sizes"][size], config["tiny"]["vocab_size"])
    return HUB_FAMILIES[config["family"]].sizes[size].classifier_params


def rounds_of(config: Config, size: str, task: str) -> int:
    """Adversarial-training rounds of a size; 0 for a finetuning-only study, for a size that a
    size -> rounds mapping leaves out (the paper trained Pythia up to 2.8b only), and for a
    generation task (adversarial training trains classifiers)."""
    adversarial = config.get("adversarial_training")
    if not adversarial or get_task(task).is_generation:
        return 0
    spec = adversarial["rounds"]
    if isinstance(spec, dict) and "rounds_times_params" not in spec and size not in spec:
        return 0
    return number_of_rounds(spec, size, config["sizes"], classifier_params_of(config, size))


def eval_rounds_of(config: Config, size: str, task: str) -> list[int]:
    """The rounds of a size that the evaluation attacks attack (always round 0)."""
    n_rounds = rounds_of(config, size, task)
    if n_rounds == 0:
        return [0]
    spec = config["adversarial_training"]["eval_rounds"]
    if isinstance(spec, int):
        return evaluation_rounds(n_rounds, spec)
    return sorted({0, *(r for r in spec if r <= n_rounds)})


def evaluation(config: Config, attack: str, task: str, round: int) -> dict[str, Any] | None:
    """Evaluation attack ``attack``'s settings on ``task`` at ``round`` (0: the finetuned
    model, above: a trained round), or None where the entry does not attack it."""
    return attack_evaluation(config["attacks"][attack], task, round > 0)


def budgets(config: Config, attack: str, task: str, round: int) -> list[int]:
    """An attack cell's budget ladder, smallest first: one job runs it, the largest budget's
    records hold every iteration."""
    settings = evaluation(config, attack, task, round)
    if settings is None:
        raise ValueError(f"attack {attack!r} does not attack {task!r} at round {round}")
    return sorted(settings["budgets"])


def attacks_on(config: Config, task: str, round: int) -> list[str]:
    """The evaluation attacks that attack a task at a round (finetuned or trained)."""
    return [name for name in config["attacks"] if evaluation(config, name, task, round) is not None]


def round_settings(config: Config, size: str, task: str) -> dict[str, Any]:
    """What a round depends on: the adversarial-training settings without the planning keys,
    with the ramp's horizon resolved (the size's round count, unless pinned: a round then
    depends on how many rounds follow it)."""
    adversarial = config["adversarial_training"]
    settings = {k: v for k, v in adversarial.items() if k not in PLANNING_KEYS}
    if settings["ramp"]:
        settings["ramp_rounds"] = ramp_horizon(
            settings.get("ramp_rounds"), rounds_of(config, size, task)
        )
    return settings


def round_jobs(config: Config, size: str, task: str) -> list[tuple[int, int]]:
    """The (first, last) rounds of each job that makes one cell's rounds: ``rounds_per_job``
    at a time, the last block shorter where the rounds end inside it; none without rounds."""
    n_rounds = rounds_of(config, size, task)
    if n_rounds == 0:
        return []
    per_job = config["adversarial_training"]["rounds_per_job"]
    return [
        (first, min(first + per_job - 1, n_rounds)) for first in range(1, n_rounds + 1, per_job)
    ]


def round_blocks(config: Config) -> dict[tuple[int, int], set[str]]:
    """Each block of consecutive rounds that one job makes, with the sizes whose rounds it
    tiles (one rule per block, limited to those sizes)."""
    blocks: dict[tuple[int, int], set[str]] = {}
    for size, task, _ in cells(config):
        for block in round_jobs(config, size, task):
            blocks.setdefault(block, set()).add(size)
    return blocks


def attack_cells(config: Config) -> list[tuple[str, str, int, int, str]]:
    """(size, task, seed, round, attack) of every attack job: every evaluation attack on every
    evaluated round of every cell."""
    return [
        (size, task, seed, k, attack)
        for size, task, seed in cells(config)
        for k in eval_rounds_of(config, size, task)
        for attack in attacks_on(config, task, k)
    ]
