"""The study's classification tasks: generation, loading, and where attack text goes."""

from robustness_scaling.tasks.base import (
    ANSWER_PROMPT,
    Example,
    Placement,
    Task,
    attack_context,
    model_input,
)
from robustness_scaling.tasks.registry import TASKS, get_task

__all__ = [
    "ANSWER_PROMPT",
    "Example",
    "Placement",
    "TASKS",
    "Task",
    "attack_context",
    "get_task",
    "model_input",
]
