"""Pricing a study's grid: every job the workflow plans (:mod:`robustness_scaling.grid`), its
FLOPs (:mod:`.compute`) and peak memory (:mod:`.memory`), summed per stage and size."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pandas as pd

from robustness_scaling import grid
from robustness_scaling.adversarial_training.pool import training_mix
from robustness_scaling.adversarial_training.schedule import attack_iterations
from robustness_scaling.attack_options import ATTACK_OPTIONS
from robustness_scaling.config import TINY, cells
from robustness_scaling.cost_plan.compute import Victim, attack_flops, attack_suffix_tokens
from robustness_scaling.cost_plan.memory import attack_memory, training_memory
from robustness_scaling.cost_plan.models import (
    Precision,
    Shape,
    model_shape,
    precision,
    sampler_shape,
)
from robustness_scaling.cost_plan.tokens import (
    DEFAULT_MAX_NEW_TOKENS,
    PromptSplit,
    answer_tokens,
    prompt_split,
    prompt_tokens_of,
)
from robustness_scaling.flops import training_flops
from robustness_scaling.tasks import get_task

DEFAULT_FLOPS_PER_SECOND = 4e14
"""Achieved FLOP/s of one GPU: about 40 % of an H100's dense bfloat16 peak (989 TFLOP/s)."""

GIB = 2**30
STAGES = ("pretrain", "finetune", "adversarial")
COLUMNS = ["stage", "size", "params", "jobs", "flops", "gpu_hours", "peak_memory_gib"]

Cost = tuple[str, str, int, int, int]
"""(stage, size, jobs, FLOPs, bytes of memory) of some of a study's jobs."""


def cost_plan(
    config: Mapping[str, Any],
    flops_per_second: float = DEFAULT_FLOPS_PER_SECOND,
    prompt_tokens: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """The cost of a validated study, one row per (stage, size), so that a budget can be asked
    for (and the expensive stages found) before anything runs.

    ``stage`` is pretrain (tiny family), finetune, adversarial (the round jobs: each round's
    training attack at the ramp's iterations and its training set), ``attack:<name>`` (every
    attack cell at its largest budget on every evaluated round) or, where one job runs every
    attack on a model (``attack_jobs: per_model``), ``attacks``. ``flops`` (a float: the sums
    outgrow 64-bit integers), ``gpu_hours`` at ``flops_per_second``, ``peak_memory_gib`` of the
    stage's largest job of that size. ``prompt_tokens`` replaces a task's estimated tokens.
    """
    if not (flops_per_second > 0 and math.isfinite(flops_per_second)):
        raise ValueError(f"flops_per_second must be a positive number, got {flops_per_second!r}")
    study = _Study(config, prompt_tokens_of(config, prompt_tokens))
    ledger: dict[tuple[str, str], list[int]] = {}
    for stage, size, jobs, flops, memory in [
        *_pretrain_costs(study),
        *_finetune_costs(study),
        *_round_costs(study),
        *_attack_costs(study),
    ]:
        row = ledger.setdefault((stage, size), [0, 0, 0])
        row[0], row[1], row[2] = row[0] + jobs, row[1] + flops, max(row[2], memory)
    order = [*STAGES, "attacks", *(f"attack:{name}" for name in config["attacks"])]
    rows = [
        {
            "stage": stage,
            "size": size,
            "params": study.shapes[size].classifier_params,
            "jobs": jobs,
            "flops": float(flops),
            "gpu_hours": flops / flops_per_second / 3600,
            "peak_memory_gib": memory / GIB,
        }
        for stage in order
        for size in config["sizes"]
        if (stage, size) in ledger
        for jobs, flops, memory in [ledger[stage, size]]
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def totals(plan: pd.DataFrame) -> dict[str, float]:
    """The study's jobs, FLOPs and GPU-hours summed, and its largest job's memory."""
    return {
        "jobs": int(plan["jobs"].sum()),
        "flops": float(plan["flops"].sum()),
        "gpu_hours": float(plan["gpu_hours"].sum()),
        "peak_memory_gib": float(plan["peak_memory_gib"].max()),
    }


@dataclass(frozen=True)
class _Study:
    """What every stage's pricing reads: the config, each task's prompt tokens, each size's
    shapes, the precision and BEAST's sampler."""

    config: Mapping[str, Any]
    tokens: Mapping[str, int]

    @cached_property
    def shapes(self) -> dict[str, Shape]:
        return {size: model_shape(self.config, size) for size in self.config["sizes"]}

    @cached_property
    def bytes(self) -> Precision:
        return precision(self.config)

    def gpus(self, stage: str, size: str) -> int:
        """The GPUs a sized stage's job asks for (``resources.<stage>.by_size``, else the
        stage's, else the default's): a training job over several is sharded."""
        resources = self.config.get("resources", {})
        own = resources.get(stage, {})
        for scope in (own.get("by_size", {}).get(size, {}), own, resources.get("default", {})):
            if "gpu" in scope:
                return max(1, int(scope["gpu"]))
        return 1

    def sampler(self, method: str) -> Shape | None:
        """BEAST's sampler; None for the methods that need none."""
        return sampler_shape(self.config) if method == "beast" else None

    def victim(self, size: str, task: str) -> Victim:
        """The finetuned (or attacked) model of a cell: a causal LM on a generation task."""
        shape, settings = self.shapes[size], self.config["task_settings"][task]
        if not get_task(task).is_generation:
            return Victim(shape.classifier_params, self.tokens[task])
        answer = settings.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
        target = answer_tokens(self.config, task)
        return Victim(shape.generative_params, self.tokens[task], target, answer)

    def split(self, task: str, position: float | None) -> PromptSplit:
        """The task's prompt cut at an attack's ``position`` (None: the task's own slot)."""
        return prompt_split(self.config, task, self.tokens[task], position)


def _pretrain_costs(study: _Study) -> list[Cost]:
    """The tiny family's causal-LM pretraining, one job per size (hub families come
    pretrained)."""
    if study.config["family"] != TINY:
        return []
    settings = study.config["tiny"]["pretrain"]
    tokens = settings["steps"] * settings["batch_size"] * settings["block_size"]
    costs = []
    for size, shape in study.shapes.items():
        n = shape.generative_params
        memory = training_memory(
            shape,
            n,
            settings["optimizer"],
            settings["batch_size"],
            settings["block_size"],
            study.bytes,
            causal_lm=True,
        )
        costs.append(("pretrain", size, 1, training_flops(n, tokens), memory))
    return costs


def _finetune_costs(study: _Study) -> list[Cost]:
    """One job per cell: ``epochs`` passes over the first ``n_train`` examples (a generation
    task's answer and end of text included); a victim used as it comes trains nothing."""
    finetune, costs = study.config["finetune"], []
    for size, task, _ in cells(study.config):
        settings, victim = study.config["task_settings"][task], study.victim(size, task)
        if settings.get("finetune") is False:
            costs.append(("finetune", size, 1, 0, victim.n_params * study.bytes.weights))
            continue
        length = victim.prompt + (victim.target + 1 if victim.answer else 0)
        examples = round(finetune["epochs"] * min(finetune["n_train"], settings["train_size"]))
        memory = training_memory(
            study.shapes[size],
            victim.n_params,
            finetune["optimizer"],
            finetune["minibatch_size"],
            length,
            study.bytes,
            causal_lm=bool(victim.answer),
            gpus=study.gpus("finetune", size),
        )
        costs.append(
            ("finetune", size, 1, training_flops(victim.n_params, examples * length), memory)
        )
    return costs


def _round_costs(study: _Study) -> list[Cost]:
    """Each cell's round jobs: every round attacks ``examples_per_round`` examples at the
    ramp's iterations, then trains on its set, adversarial examples one attack longer than
    clean ones, for ``epochs_per_round`` passes. Memory: the larger of the attack and the
    training step of the round with the most attack iterations."""
    costs = []
    for size, task, _ in cells(study.config):
        jobs = grid.round_jobs(study.config, size, task)
        if not jobs:
            continue
        settings = grid.round_settings(study.config, size, task)
        method, examples = settings["attack_method"], settings["examples_per_round"]
        options = ATTACK_OPTIONS[method](**settings["attack_options"])
        shape, victim = study.shapes[size], study.victim(size, task)
        sampler = study.sampler(method)
        sampler_params = sampler.generative_params if sampler else 0
        flops, most_iterations = 0, 0
        for k in range(1, jobs[-1][1] + 1):
            iterations = attack_iterations(
                k,
                settings["ramp_start"],
                settings["ramp_end"],
                ramp=settings["ramp"],
                horizon=settings.get("ramp_rounds"),
            )
            flops += examples * attack_flops(
                method,
                options,
                iterations,
                victim,
                sampler_params=sampler_params,
                vocab=shape.vocab,
            )
            adversarial = victim.prompt + attack_suffix_tokens(method, options, iterations)
            n_adv, n_clean = training_mix(
                k * examples,
                settings["max_augmented_data_size"],
                settings["adv_share"],
                settings["fill_adv_share"],
            )
            trained = n_adv * adversarial + n_clean * victim.prompt
            flops += training_flops(victim.n_params, trained * settings["epochs_per_round"])
            most_iterations = max(most_iterations, iterations)
        longest = victim.prompt + attack_suffix_tokens(method, options, most_iterations)
        memory = max(
            training_memory(
                shape,
                victim.n_params,
                settings["optimizer"],
                settings["minibatch_size"],
                longest,
                study.bytes,
                causal_lm=False,
                gpus=study.gpus("adversarial_round", size),
            ),
            attack_memory(
                method,
                options,
                most_iterations,
                examples,
                study.split(task, settings.get("attack_position")),
                victim.n_params,
                shape,
                study.bytes,
                sampler,
            ),
        )
        costs.append(("adversarial", size, len(jobs), flops, memory))
    return costs


def _attack_costs(study: _Study) -> list[Cost]:
    """Each attack cell, priced at its ladder's largest budget (whose records hold every
    iteration) on all its ``n_val`` examples: its own job (stage ``attack:<name>``), or, with
    ``attack_jobs: per_model``, a share of its model's one job (stage ``attacks``)."""
    config, costs = study.config, []
    per_model = config["attack_jobs"] == "per_model"
    priced = set()
    for size, task, seed, k, attack in grid.attack_cells(config):
        settings = grid.evaluation(config, attack, task, k)
        ladder = grid.budgets(config, attack, task, k)
        iterations, method = ladder[-1], settings["method"]
        task_settings = config["task_settings"][task]
        options = ATTACK_OPTIONS[method](**settings["options"])
        shape, victim = study.shapes[size], study.victim(size, task)
        sampler = study.sampler(method)
        judged = ladder if task_settings.get("judge_at") == "budgets" else None
        per_example = attack_flops(
            method,
            options,
            iterations,
            victim,
            sampler_params=sampler.generative_params if sampler else 0,
            vocab=shape.vocab,
            judged=judged,
        )
        examples = min(settings["n_val"], task_settings["val_size"])
        memory = attack_memory(
            method,
            options,
            iterations,
            examples,
            study.split(task, settings.get("position")),
            victim.n_params,
            shape,
            study.bytes,
            sampler,
        )
        if per_model:
            jobs = int((size, task, seed, k) not in priced)
            priced.add((size, task, seed, k))
            costs.append(("attacks", size, jobs, examples * per_example, memory))
        else:
            costs.append((f"attack:{attack}", size, 1, examples * per_example, memory))
    return costs
