"""What an attack run leaves behind: its records' columns and the state that continues it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from torch import Tensor

RECORD_COLUMNS = (
    "example_id",
    "iteration",
    "loss",
    "success",
    "predicted_label",
    "attack_ids",
    "attack_text",
    "generation",
    "flops",
    "judge_flops",
)


@dataclass
class AttackState:
    """Everything needed to continue an attack (saved by
    :class:`~robustness_scaling.attacks.resumable.AttackFiles`).

    ``current`` holds, per example, what the latest record reports (GCG's current suffix, the
    first RandomToken success, BEAST's best-so-far); ``extra`` holds attack-specific tensors.
    """

    attack: str
    fingerprint: str
    example_ids: list[int]
    iteration: int
    generator_states: list[Tensor]
    current_ids: list[list[int]]
    current_text: list[str]
    current_loss: Tensor
    current_predicted: Tensor
    current_success: Tensor
    extra: dict[str, Any] = field(default_factory=dict)
    current_generation: list[str] = field(default_factory=list)


@dataclass
class AttackResult:
    """Records of the iterations one ``run`` call computed, and the state to continue from."""

    records: pd.DataFrame
    state: AttackState
