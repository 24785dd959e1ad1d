"""A plausible attacks table with the paper's qualitative trends, for tests and demos."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from robustness_scaling.analysis.tables import COLUMN_NAMES, validate_table

PYTHIA_LIKE_SIZES: dict[str, int] = {
    "14m": 7_629_056,
    "70m": 44_672_000,
    "410m": 353_824_768,
    "1.4b": 1_311_629_312,
}
"""Default sizes of ``synthetic_table``: four Pythia classifier counts, 170× apart."""

_SYNTHETIC_ATTACKS: dict[str, tuple[str, int, float]] = {
    # attack: (position, iterations, FLOPs per example-iteration in units of N·T)
    "gcg": ("suffix", 32, 262.0),
    "random_token": ("suffix", 128, 2.0),
    "gcg_infix90": ("infix90", 32, 262.0),
}


def synthetic_table(
    sizes: Mapping[str, int] | None = None,
    family: str = "pythia",
    tasks: Sequence[str] = ("password_match",),
    seeds: Sequence[int] = (0, 1, 2),
    rounds: int = 6,
    attacks: Mapping[str, tuple[str, int, float]] | None = None,
    training_attack: str = "gcg",
    n_val: int = 200,
    tokens_per_example: int = 100,
    pretrain_tokens: float = 20_000_000_000,
    random_state: int = 0,
) -> pd.DataFrame:
    """A plausible attacks table with the paper's qualitative trends, for tests and demos.

    Logit10 ASR grows linearly in log10 attack compute, larger models are more robust and
    attack scaling is slower for them, and every adversarial-training round lowers the ASR. ASR is
    drawn binomially over the attacked examples (so exact 0s and 1s occur, as in real runs), and
    FLOPs follow docs/method.md "Compute" (GCG ≈ 262·N·T per example-iteration, pretraining
    6·N·D). The
    default pretraining corpus is smaller than Pythia's 3e11 tokens so that a few rounds span
    the paper's defense budgets (1e-4 to 5e-3 of pretraining).

    ``rounds`` counts adversarial-training rounds after round 0; with ``rounds=0`` the table is a
    finetuning-only study (empty ``training_attack``). Round-0 rows are evaluated with every attack
    in ``attacks``; trained rounds likewise, so the table also has transfer evaluations (every
    attack other than ``training_attack``).
    """
    sizes = dict(PYTHIA_LIKE_SIZES if sizes is None else sizes)
    attacks = dict(_SYNTHETIC_ATTACKS if attacks is None else attacks)
    rng = np.random.default_rng(random_state)
    trained_by = training_attack if rounds > 0 else ""
    log_sizes = {size: math.log10(n) for size, n in sizes.items()}
    smallest = min(log_sizes.values())
    rows = []
    for task_index, task in enumerate(tasks):
        for size, n_params in sizes.items():
            depth = log_sizes[size] - smallest  # orders of magnitude above the smallest model
            pretrain = 6.0 * n_params * pretrain_tokens
            for seed in seeds:
                accuracy = min(0.99, 0.80 + 0.05 * depth + rng.normal(0, 0.01) - 0.02 * task_index)
                defense = 0.0
                for round_ in range(rounds + 1):
                    if round_ > 0:
                        # 200 examples attacked with a ramped GCG plus 1000 training examples
                        its = 8 + (64 - 8) * (round_ - 1) / max(1, rounds - 1)
                        per_round = (200 * its * 262 + 1000 * 6) * n_params * tokens_per_example
                        defense += per_round * (1 + rng.normal(0, 0.02))
                    defense_fraction = defense / pretrain
                    # adversarial training costs a little clean accuracy
                    n_attacked = int(round((accuracy - 0.004 * round_) * n_val))
                    for attack, (position, n_its, cost) in attacks.items():
                        per_iteration = cost * n_params * tokens_per_example
                        transfer = 0.0 if attack == trained_by else 0.4
                        # logit10 ASR = a + b·log10(attack fraction of pretraining)
                        b = max(0.15, 0.9 - 0.2 * depth) * (0.5 if cost < 10 else 1.0)
                        a = 3.0 - 1.2 * depth + 0.3 * task_index
                        shift = (1 - transfer) * 0.8 * math.log10(1 + defense_fraction / 1e-4)
                        a += rng.normal(0, 0.15) - shift
                        for iteration in range(n_its + 1):
                            total = iteration * per_iteration * n_attacked
                            if iteration == 0:
                                asr = 0.0
                            else:
                                logit = a + b * math.log10(total / pretrain)
                                p = 1.0 / (1.0 + 10.0 ** (-logit))
                                asr = rng.binomial(n_attacked, p) / n_attacked
                            rows.append(
                                {
                                    "family": family,
                                    "size": size,
                                    "task": task,
                                    "seed": seed,
                                    "round": round_,
                                    "attack": attack,
                                    "position": position,
                                    "training_attack": trained_by,
                                    "judge": "",
                                    "precision": "float32",
                                    "iteration": iteration,
                                    "n_params": n_params,
                                    "pretrain_flops": pretrain,
                                    "clean_accuracy": n_attacked / n_val,
                                    "n_val": n_val,
                                    "n_attacked": n_attacked,
                                    "asr": asr,
                                    "attack_flops_per_example": iteration * per_iteration,
                                    "attack_flops": total,
                                    "judge_flops": 0.0,
                                    "defense_flops": defense,
                                }
                            )
    return validate_table(pd.DataFrame(rows, columns=list(COLUMN_NAMES)))
