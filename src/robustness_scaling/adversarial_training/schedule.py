"""Rounds per size, which rounds are evaluated, and how strong each round's training attack is.

All pure functions of config values, so the workflow can call them while it builds the DAG
(docs/method.md "Adversarial training").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

ROUNDS_TIMES_PARAMS = 7.3e9  # the paper's base list [953, 413, ..., 1, 1] ≈ 7.3e9 / n_params
RULE_KEYS = ("rounds_times_params", "min", "max")


def number_of_rounds(
    spec: int | Sequence[int] | Mapping[str, int | float],
    size: str,
    sizes: Sequence[str],
    n_params: int,
) -> int:
    """Adversarial-training rounds for one model size.

    ``spec`` is one of:

    - an int: every size gets that many rounds;
    - a list: one count per entry of ``sizes``, in order;
    - a mapping from size name to count;
    - the paper's rule ``{"rounds_times_params": 7.3e9, "min": 5, "max": 60}``: rounds ×
      parameters stays roughly constant, so every size gets about the same training compute,
      clipped so small models stop and large ones get some rounds (GCG [5, 60], RT [5, 250]).
      ``min`` and ``max`` are optional; the count is at least 1.
    """
    if isinstance(spec, int):
        rounds = spec
    elif isinstance(spec, Sequence):
        if len(spec) != len(sizes):
            raise ValueError(
                f"adversarial-training rounds list has {len(spec)} entries but there are "
                f"{len(sizes)} sizes {list(sizes)}"
            )
        rounds = spec[list(sizes).index(size)]
    elif "rounds_times_params" in spec:
        unknown = sorted(set(spec) - set(RULE_KEYS))
        if unknown:
            raise ValueError(
                f"unknown rounds rule key(s) {unknown}; allowed: {', '.join(RULE_KEYS)}"
            )
        rounds = max(1, round(spec["rounds_times_params"] / n_params))
        rounds = min(max(rounds, int(spec.get("min", 1))), int(spec.get("max", rounds)))
    elif size in spec:
        rounds = int(spec[size])
    else:
        raise ValueError(f"adversarial-training rounds name no count for size {size!r}: {spec}")
    if rounds < 1:
        raise ValueError(f"size {size!r} gets {rounds} adversarial-training rounds; need >= 1")
    return int(rounds)


def evaluation_rounds(n_rounds: int, n_points: int = 10) -> list[int]:
    """Round 0 plus about ``n_points`` geometrically spaced rounds in 1..n_rounds, ending at it.

    Robustness changes fastest in the first rounds, so evaluating every round would waste
    attack compute on the flat tail. Points of ``geomspace(1, n_rounds)`` are floored and pushed
    up to stay distinct: 60 rounds give 0, 1, 2, 3, 4, 6, 9, 15, 24, 38, 60 as in the paper.
    """
    if n_rounds < 1 or n_points < 1:
        raise ValueError(f"need n_rounds >= 1 and n_points >= 1, got {n_rounds}, {n_points}")
    rounds: list[int] = []
    for point in np.geomspace(1, n_rounds, min(n_points, n_rounds)):
        floor = math.floor(point + 1e-9)  # geomspace may land just under an integer
        rounds.append(min(n_rounds, max(floor, rounds[-1] + 1 if rounds else 1)))
    return [0, *sorted(set(rounds) | {n_rounds})]


def ramp_horizon(ramp_rounds: int | None, n_rounds: int) -> int:
    """The round at which the training attack's ramp reaches its end: ``ramp_rounds`` where a
    study pins it, else the last of the ``n_rounds`` rounds.

    Pinning it makes a round's strength independent of the total, so adding rounds later leaves
    the existing ones valid; unpinned, a round depends on how many rounds its size has.
    """
    return n_rounds if ramp_rounds is None else ramp_rounds


def attack_iterations(
    round_index: int, start: int, end: int, *, ramp: bool = True, horizon: int | None
) -> int:
    """Iterations of the training attack in round ``round_index`` (1-based).

    The ramp is linear from ``start`` at round 1 to ``end`` at round ``horizon``
    (:func:`ramp_horizon`), then stays at ``end``: round ``i + 1`` attacks with ``start +
    int(i · rate)`` iterations, rate = (end − start)/(horizon − 1), as the paper's Qwen code
    generates a round's examples at its start (docs/method.md, "Adversarial training"). Weak
    attacks suffice against the early, weak models and make rounds cheap. A single-round ramp
    stays at ``start``. With ``ramp=False`` (the paper's "no ramp" ablation) every round attacks
    at full strength ``end`` and ``horizon`` is not needed.
    """
    if round_index < 1:
        raise ValueError(f"round {round_index} is not a training round (1, 2, ...)")
    if not ramp:
        return end
    if horizon is None:
        raise ValueError("a ramped attack needs its horizon: the round at which it reaches `end`")
    if horizon <= 1:
        return start
    if round_index > horizon:
        return end
    # The paper's float arithmetic, kept: its last round can fall one short of `end` (RandomToken
    # 1024 -> 2048 over 250 rounds ends at 2047).
    rate = (end - start) / (horizon - 1)
    return start + int((round_index - 1) * rate)
