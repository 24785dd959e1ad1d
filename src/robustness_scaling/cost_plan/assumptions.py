"""What a plan assumes, one line each, printed next to its numbers: what a config cannot say
about a study's cost is assumed, and a reader of the numbers should see where."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from robustness_scaling.cost_plan.plan import DEFAULT_FLOPS_PER_SECOND
from robustness_scaling.cost_plan.tokens import (
    NATURAL_CONTENT_CHARS,
    chars_per_token,
    prompt_tokens_of,
)
from robustness_scaling.data import _GENERATORS as SYNTHETIC_GENERATORS
from robustness_scaling.tasks import get_task


def assumptions(
    config: Mapping[str, Any],
    flops_per_second: float = DEFAULT_FLOPS_PER_SECOND,
    prompt_tokens: Mapping[str, int] | None = None,
) -> list[str]:
    """What a plan of this study assumes, one line each, to print next to its numbers."""
    tokens = prompt_tokens_of(config, prompt_tokens)
    given = set(prompt_tokens or {})
    runtime = config["runtime"]
    natural = [t for t in tokens if t in NATURAL_CONTENT_CHARS and t not in given]
    estimated = [t for t in tokens if t not in given]
    how = f"; estimated at {chars_per_token(config)} characters per token" if estimated else ""
    if any(t in SYNTHETIC_GENERATORS for t in estimated):
        how += ", synthetic tasks' prompt lengths measured on generated examples"
    if natural:
        contents = ", ".join(f"{t} {NATURAL_CONTENT_CHARS[t]:,}" for t in natural)
        how += f", natural-text contents of typical length ({contents} characters)"
    lines = [
        f"GPU-hours at {flops_per_second:.3g} achieved FLOP/s per GPU "
        f"(default {DEFAULT_FLOPS_PER_SECOND:.3g}: ~40% of an H100's dense bfloat16 peak).",
        "Prompt tokens per task (clean prompt; padding not counted): "
        + ", ".join(f"{t} {n}{' (given)' if t in given else ''}" for t, n in tokens.items())
        + how
        + ".",
        "Every attack attacks all n_val examples at its largest budget (only the correctly "
        "classified ones are attacked); GCG scores all n_candidates; BEAST's beams are full.",
        "An attack's peak memory is for its starting batch_size: a pass that runs out of "
        "memory halves its batch and retries. The prefix cache of all attacked examples is "
        "held whatever the batch.",
        "Memory is per GPU. A training job over several GPUs (resources gpu > 1) is sharded: "
        "each holds its share of weights, gradients and optimizer state and of each "
        "minibatch's rows, plus one whole layer; the attack of a sharded adversarial round "
        "is counted as on one GPU (every rank runs it whole).",
        "Not counted: CPU stages (data, tokenizer, aggregate, plots), clean-accuracy "
        "evaluations, the clean iteration 0, an LLM judge's passes.",
    ]
    if any(get_task(task).is_generation for task in tokens):
        lines.append("Generation tasks: every judged answer runs to max_new_tokens.")
    if runtime["autocast"] == "float32" and runtime["dtype"] == "float32":
        lines.append(
            "This study computes in float32 (runtime.autocast: float32): GPUs reach a fraction "
            "of their bfloat16 FLOP/s there (an H100 SXM: 67 TFLOP/s in float32, PyTorch "
            "leaving TF32 off); pass --flops-per-second to match."
        )
    elif runtime["autocast"] == "auto":
        lines.append(
            "runtime.autocast: auto computes in bfloat16 on CUDA, else mostly in float32; "
            "activation memory is counted in float32."
        )
    return lines
