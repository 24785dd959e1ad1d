"""What a user may choose about the figures, with the paper's choices as defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from robustness_scaling.analysis.metrics import DEFAULT_TARGETS
from robustness_scaling.attack_options import ATTACK_OPTIONS

# docs/method.md "Figures": GCG/BEAST iteration 10 (Spam, IMDB, PM), 2 (WL, Helpful, Harmless),
# RT 1200.
PAPER_SIZE_ITERATIONS: dict[str, int] = {
    "gcg": 10,
    "beast": 10,
    "random_token": 1200,
    **{
        f"{task}/{attack}": 2
        for task in ("word_length", "helpful", "harmless")
        for attack in ("gcg", "beast")
    },
}
# docs/method.md "Adversarial training": adversarially trained models are compared at ASR@128
# (BEAST: @25).
PAPER_DEFENSE_ITERATIONS: dict[str, int] = {"beast": 25}


@dataclass(frozen=True)
class FigureOptions:
    """Choices that change what the figures show, not how they look.

    Iterations are looked up as ``"task/attack"``, then ``"attack"`` (the evaluation attack's
    config name), then the same for its base name (``gcg`` for ``gcg_infix90``), then the
    default. A curve shorter than the requested iteration uses its last one, a curve recorded
    only from a later iteration on its first; panel titles say which iterations were used and
    a note under the panels lists those curves. ``None`` means each curve's last iteration.

    Options are plain values, so a workflow can pass them from its config
    (:meth:`from_config`) and rerun the plots when they change.
    """

    size_iterations: Mapping[str, int] = field(default_factory=lambda: dict(PAPER_SIZE_ITERATIONS))
    """ASR iteration of the robustness-vs-size figure, per attack (or task/attack)."""
    size_default_iteration: int | None = None
    """Used for attacks not in ``size_iterations``; None: the last iteration."""
    defense_iterations: Mapping[str, int] = field(
        default_factory=lambda: dict(PAPER_DEFENSE_ITERATIONS)
    )
    """ASR iteration of the adversarial-training and transfer figures, per attack."""
    defense_default_iteration: int | None = 128
    defense_axis: Literal["fraction", "absolute"] = "fraction"
    """x of the adversarial-training and transfer figures: defense FLOPs as a fraction of
    pretraining (the paper's main plots), or absolute FLOPs."""
    offense_targets: tuple[float, ...] = DEFAULT_TARGETS
    """Target ASRs of the offense–defense figure, one column each."""
    defense_budgets: tuple[float, ...] = (1e-4, 1e-3, 5e-3)
    """Defense compute (fraction of pretraining) at which adversarially trained models' attack
    scaling is shown, next to their final round."""
    seed_summary: Literal["median", "mean"] = "median"
    """How lines and bands summarise seeds: median with min–max (every seed visible, robust to
    one diverged run), or the paper's mean with a 95 % bootstrap interval."""

    @classmethod
    def from_config(cls, figures: Mapping[str, Any]) -> FigureOptions:
        """Options from a study's ``figures`` slice: its iteration mappings are merged over the
        paper's, key by key, so a study that names ``gcg: 10`` keeps the paper's @2 for
        WordLength, Helpful and Harmless (say ``word_length/gcg: 10`` to change that)."""
        fields = dict(figures)
        fields["size_iterations"] = {
            **PAPER_SIZE_ITERATIONS,
            **fields.get("size_iterations", {}),
        }
        fields["defense_iterations"] = {
            **PAPER_DEFENSE_ITERATIONS,
            **fields.get("defense_iterations", {}),
        }
        for key in ("offense_targets", "defense_budgets"):
            if key in fields:
                fields[key] = tuple(fields[key])
        return cls(**fields)

    def size_iteration(self, task: str, attack: str) -> int | None:
        return _lookup(self.size_iterations, task, attack, self.size_default_iteration)

    def defense_iteration(self, task: str, attack: str) -> int | None:
        return _lookup(self.defense_iterations, task, attack, self.defense_default_iteration)


def base_method(attack: str) -> str:
    """The method an evaluation attack's name starts with (``gcg_infix90`` → ``gcg``,
    ``random_token_prefix`` → ``random_token``); the name itself if none does."""
    for method in sorted(ATTACK_OPTIONS, key=len, reverse=True):
        if attack == method or attack.startswith(f"{method}_"):
            return method
    return attack


def _lookup(table: Mapping[str, int], task: str, attack: str, default: int | None) -> int | None:
    base = base_method(attack)  # a variant such as gcg_infix90 follows its base attack, gcg
    for key in (f"{task}/{attack}", attack, f"{task}/{base}", base):
        if key in table:
            return int(table[key])
    return default
