"""FLOPs of attacking one example, counted as the attacks' own ``flops`` records count them
(docs/method.md "Compute": forward 2·N·T, training step 6·N·T), so a plan and a finished run
agree on what an attack cost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from robustness_scaling.attack_options import AttackOptions
from robustness_scaling.flops import forward_flops, training_flops


@dataclass(frozen=True)
class Victim:
    """One attacked or trained model on one task, as far as its cost goes: parameters, the
    clean prompt's tokens, the target tokens a causal LM's loss reads (0 for a classifier),
    and the answer length of a judged victim (0: not judged)."""

    n_params: int
    prompt: int
    target: int = 0
    answer: int = 0


def answer_flops(n_params: int, prompt: int, answer: int) -> int:
    """One greedy answer of ``answer`` tokens after a ``prompt``-token prompt: each new token a
    forward pass over the sequence so far, as generative/answers.py counts it."""
    return forward_flops(n_params, answer * prompt + answer * (answer - 1) // 2)


def attack_suffix_tokens(method: str, options: AttackOptions, iterations: int) -> int:
    """Tokens an attack adds to a prompt: BEAST's suffix grows one token per iteration."""
    return iterations if method == "beast" else options.n_attack_tokens


def attack_flops(
    method: str,
    options: AttackOptions,
    iterations: int,
    victim: Victim,
    *,
    sampler_params: int = 0,
    vocab: int,
    judged: Sequence[int] | None = None,
) -> int:
    """FLOPs of attacking one example for ``iterations`` iterations, as the attack's records
    count them, plus a judged victim's answers (``judged``: the iterations judged; None every
    one; RandomToken judges every draw either way).

    GCG: a gradient pass (6·N·T) and a forward pass per candidate; RandomToken: a forward pass
    of the draw's prompt; BEAST: a forward pass of each beam × branch candidate (its suffix one
    token longer each iteration) and a sampler pass over each beam (its text before the slot
    counted as the whole prompt).
    """
    n = victim.n_params
    if method == "beast":
        search, width = 0, 1
        for i in range(1, iterations + 1):
            candidates = width * options.branch_factor
            search += candidates * forward_flops(n, victim.prompt + i + victim.target)
            search += width * forward_flops(sampler_params, victim.prompt + i - 1)
            width = min(options.beam_width, candidates)
        attack_len = list(range(1, iterations + 1))
    else:
        length = victim.prompt + options.n_attack_tokens + victim.target
        if method == "gcg":
            swaps = options.n_attack_tokens * min(options.top_k, vocab)
            candidates = min(options.n_candidates, swaps)
            per_iteration = training_flops(n, length) + candidates * forward_flops(n, length)
        else:
            per_iteration = forward_flops(n, length)
        search = iterations * per_iteration
        attack_len = [options.n_attack_tokens] * iterations
    if not victim.answer:
        return search
    every = judged is None or method == "random_token"
    answered = range(1, iterations + 1) if every else sorted(i for i in judged if i <= iterations)
    return search + sum(
        answer_flops(n, victim.prompt + attack_len[i - 1], victim.answer) for i in answered
    )
