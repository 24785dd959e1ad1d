"""Shared by both benchmark workers; must import under transformers 4.47 (nanoGCG) and 5.

The driver writes the tokenizer and the model weights once; each worker rebuilds the same
randomly initialised GPT-NeoX causal LM from ``spec.json`` and loads the same state dict, so the
two sides attack bit-identical models, on the device the driver names in ``BENCH_DEVICE``.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, PreTrainedTokenizerFast

EOS = "<|endoftext|>"
PROMPT = "Write a short story about a dragon who guards a castle in the mountains."
TARGET = "Sure, here is a short story about a dragon"
INIT = " ".join(["x"] * 20)
N_ATTACK_TOKENS = 20
SEARCH_WIDTH = 512
TOP_K = 256
DEVICE = torch.device(os.environ.get("BENCH_DEVICE", "cpu"))
SHAPES = {
    # Pythia layer shapes (EleutherAI/pythia-14m and -70m) with the benchmark's vocabulary.
    "14m": {
        "hidden_size": 128,
        "num_hidden_layers": 6,
        "num_attention_heads": 4,
        "intermediate_size": 512,
    },
    "70m": {
        "hidden_size": 512,
        "num_hidden_layers": 6,
        "num_attention_heads": 8,
        "intermediate_size": 2048,
    },
}


def load(workdir: Path, shape: str) -> tuple[GPTNeoXForCausalLM, PreTrainedTokenizerFast]:
    spec = json.loads((workdir / "spec.json").read_text())
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(workdir / "tokenizer.json"), eos_token=EOS, pad_token=EOS
    )
    config = GPTNeoXConfig(
        vocab_size=spec["vocab_size"],
        rotary_pct=0.25,
        pad_token_id=tokenizer.pad_token_id,
        **SHAPES[shape],
    )
    config._attn_implementation = "sdpa"
    model = GPTNeoXForCausalLM(config)
    state = torch.load(workdir / f"{shape}.pt", weights_only=True)
    # transformers 5 calls GPT-NeoX's LM head `lm_head`; 4.47 calls it `embed_out`.
    head = "lm_head.weight" if "lm_head.weight" in model.state_dict() else "embed_out.weight"
    state[head] = state.pop("lm_head.weight", None)
    if state[head] is None:
        state[head] = state.pop("embed_out.weight")
    model.load_state_dict(state)
    return model.to(DEVICE).eval(), tokenizer


def step_times(stamps: list[float]) -> dict[str, float]:
    """Median and all step times from the timestamps at which each step began (and the end)."""
    steps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return {"median_s": statistics.median(steps), "steps_s": steps}


def now() -> float:
    """A timestamp after the device's queued work has finished (CUDA runs asynchronously)."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)
    return time.perf_counter()
