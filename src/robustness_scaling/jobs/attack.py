"""The attack job: every evaluation attack's budget ladder on one model (:class:`Attacks`),
each attack an :class:`Attack`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustness_scaling.attacks.cell import AttackCell, run_attack_cell
from robustness_scaling.attacks.resumable import AttackFiles
from robustness_scaling.binding import binding_key
from robustness_scaling.by_name import GENERATION, method_module
from robustness_scaling.fingerprint import code_fingerprint
from robustness_scaling.runtime import Runtime, get_logger, mixed_precision, setup_job
from robustness_scaling.splits import read_split
from robustness_scaling.tasks import get_task


@dataclass(frozen=True, kw_only=True)
class Attack:
    """Attack ``attack`` (its ``settings`` on this task and round: ``method``, ``options``,
    ``position``, ``n_val``, ``checkpoint_iterations``) on the model of one cell up to each of
    ``budgets``; ``records`` and ``states`` are each budget's outputs, in ``budgets`` order.

    ``task_settings`` are the task's keys the attack reads (instructions; a generation task's
    judge, answer length, attacked labels, ``judge_at``), ``sampler`` BEAST's proposal LM.
    ``store`` keeps finished budgets across reruns and ``resume`` the budget in progress, both
    bound to everything above, the runtime's precision and device, the job's code and its
    input files, so neither is continued under anything else.
    """

    family: str
    size: str
    task: str
    seed: int
    round: int
    attack: str
    settings: Mapping[str, Any]
    budgets: list[int]
    task_settings: Mapping[str, Any]
    sampler: str | None
    model: Path
    validation: Path
    records: list[Path]
    states: list[Path]
    resume: Path
    store: Path

    def binding(self, runtime: Runtime) -> dict[str, Any]:
        """What the job's results depend on besides its input files. Not the ladder: a budget
        is the same whichever ladder made it, so a longer ladder restores the stored ones."""
        generation = [GENERATION] if get_task(self.task).is_generation else []
        return {
            "attack": self.attack,
            "settings": self.settings,
            "task_settings": self.task_settings,
            "sampler": self.sampler,
            "cell": [self.family, self.size, self.task, self.seed, self.round],
            "runtime": [str(runtime.device), str(runtime.dtype), runtime.autocast],
            "code": code_fingerprint(
                "robustness_scaling.jobs.attack",
                method_module(self.settings["method"]),
                *generation,
            ),
        }

    def run(self, runtime: Runtime, log: str) -> None:
        settings = self.settings
        setup_job(runtime.threads, seed=settings["options"].get("seed", 0))
        cell = AttackCell(
            name=self.attack,
            method=settings["method"],
            options=settings["options"],
            position=settings.get("position"),
            n_val=settings["n_val"],
            checkpoint_iterations=settings["checkpoint_iterations"],
        )
        inputs = [self.model, self.validation, *([self.sampler] if self.sampler else [])]
        logger = get_logger("attack", log)
        with mixed_precision(runtime, logger):
            run_attack_cell(
                cell,
                self.task,
                read_split(self.validation, cell.n_val),
                {**self.task_settings, "generation_batch_size": runtime.generation_batch_size},
                self.model,
                {
                    budget: AttackFiles(records, state)
                    for budget, records, state in zip(
                        self.budgets, self.records, self.states, strict=True
                    )
                },
                self.sampler,
                {
                    "family": self.family,
                    "size": self.size,
                    "task": self.task,
                    "seed": self.seed,
                    "round": self.round,
                },
                resume=self.resume,
                store=self.store,
                key=binding_key(self.binding(runtime), inputs),
                device=runtime.device,
                dtype=runtime.dtype,
                log=logger,
            )


@dataclass(frozen=True, kw_only=True)
class Attacks:
    """Every evaluation attack on the model of one cell, one after another in one process:
    starting a job (importing torch and transformers, loading the model) takes longer than
    most attacks on small models, so a job per attack would spend its time starting.

    ``attacks`` holds each attack's own fields of :class:`Attack` (``attack``, ``settings``,
    ``budgets``, ``sampler``, ``resume``, ``store``); ``records`` and ``states`` map an
    attack's name to its budgets' outputs. Each attack keeps its own store, so a rerun caused
    by one attack's settings restores the others' budgets instead of attacking again.
    """

    family: str
    size: str
    task: str
    seed: int
    round: int
    task_settings: Mapping[str, Any]
    attacks: list[Mapping[str, Any]]
    model: Path
    validation: Path
    records: Mapping[str, list[Path]]
    states: Mapping[str, list[Path]]

    def each(self) -> list[Attack]:
        """The job's attacks, in the config's order, each as the one-attack job it would be."""
        return [
            Attack(
                family=self.family,
                size=self.size,
                task=self.task,
                seed=self.seed,
                round=self.round,
                attack=spec["attack"],
                settings=spec["settings"],
                budgets=list(spec["budgets"]),
                task_settings=self.task_settings,
                sampler=spec["sampler"],
                model=self.model,
                validation=self.validation,
                records=[Path(path) for path in self.records[spec["attack"]]],
                states=[Path(path) for path in self.states[spec["attack"]]],
                resume=Path(spec["resume"]),
                store=Path(spec["store"]),
            )
            for spec in self.attacks
        ]

    def run(self, runtime: Runtime, log: str) -> None:
        for attack in self.each():
            attack.run(runtime, log)
