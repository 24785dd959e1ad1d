"""Worker run in the project venv: time our GCG on one shape, batched and not.

Reports the median step time attacking one example (comparable with nanoGCG's step), the
examples × iterations per second when attacking several examples at once, and the achieved
FLOP/s of the candidate-scoring forward pass next to a plain fp32 matmul's.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from common import (
    DEVICE,
    INIT,
    N_ATTACK_TOKENS,
    PROMPT,
    SEARCH_WIDTH,
    TARGET,
    TOP_K,
    load,
    now,
    step_times,
)
from torch.utils.flop_counter import FlopCounterMode

from robustness_scaling.attacks import GCG, GCGOptions
from robustness_scaling.tasks.base import Example, Placement

SUFFIX = Placement(position=1.0)


def example() -> Example:
    return Example(
        instructions="",
        content=(PROMPT,),
        answer_prompt="",
        clf_label=0,
        proxy_clf_label=1,
        gen_target="",
        proxy_gen_target=TARGET,
    )


def timed_attack(model, tokenizer, batch_size: int) -> tuple[GCG, list[float], list[tuple]]:
    """Our GCG with a timestamp at the start of each step and the last scoring call's args."""
    config = GCGOptions(
        n_attack_tokens=N_ATTACK_TOKENS,
        initial_text=INIT,
        top_k=TOP_K,
        n_candidates=SEARCH_WIDTH,
        batch_size=batch_size,
    )
    attack = GCG(model, tokenizer, config)
    stamps: list[float] = []
    scored: list[tuple] = []
    gradient, score = attack.scorer.loss_gradient, attack.scorer.score

    def timed_gradient(*args):
        stamps.append(now())
        return gradient(*args)

    def kept_score(*args):
        scored[:] = [args]
        return score(*args)

    attack.scorer.loss_gradient = timed_gradient
    attack.scorer.score = kept_score
    return attack, stamps, scored


def matmul_flops_per_s(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n, device=DEVICE), torch.randn(n, n, device=DEVICE)
    a @ b
    times = []
    for _ in range(repeats):
        start = now()
        a @ b
        times.append(now() - start)
    return 2 * n**3 / statistics.median(times)


def scoring_flops_per_s(attack: GCG, args: tuple, repeats: int = 3) -> dict[str, float]:
    """FLOPs the scoring pass really performs (counted by torch) over its median time."""
    with FlopCounterMode(display=False) as counter:
        attack.scorer.score(*args)
    times = []
    for _ in range(repeats):
        start = now()
        attack.scorer.score(*args)
        times.append(now() - start)
    return {
        "flops": counter.get_total_flops(),
        "seconds": statistics.median(times),
        "rows": len(args[2]),
    }


def main(workdir: Path, shape: str, n_steps: int, batches: list[int], batch_size: int) -> None:
    model, tokenizer = load(workdir, shape)
    out: dict = {
        "side": "ours",
        "shape": shape,
        "torch_threads": torch.get_num_threads(),
        "device": str(DEVICE),
        "batch_size": batch_size,
        "throughput": {},
    }
    matmul = matmul_flops_per_s()
    for n_examples in batches:
        attack, stamps, scored = timed_attack(model, tokenizer, batch_size)
        steps = n_steps if n_examples == 1 else 2
        result = attack.run([example()] * n_examples, SUFFIX, n_iterations=steps)
        stamps.append(now())
        timing = step_times(stamps)
        out["throughput"][n_examples] = {
            **timing,
            "examples_its_per_s": n_examples / timing["median_s"],
            "final_loss": float(np.mean(result.records["loss"].iloc[-n_examples:])),
        }
        if n_examples == 1:
            out.update(timing)
            score = scoring_flops_per_s(attack, scored[0])
            out["scoring"] = {
                **score,
                "flops_per_s": score["flops"] / score["seconds"],
                "matmul_flops_per_s": matmul,
            }
            out["scoring"]["fraction_of_matmul"] = out["scoring"]["flops_per_s"] / matmul
    print(json.dumps(out))


if __name__ == "__main__":
    main(
        Path(sys.argv[1]),
        sys.argv[2],
        int(sys.argv[3]),
        [int(x) for x in sys.argv[4].split(",")],
        int(sys.argv[5]),
    )
