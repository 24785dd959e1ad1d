"""Our GCG against nanoGCG 0.3.0 on the same random Pythia-shaped causal LMs.

Run from the repository root (see README.md for the exact command). Builds one byte-level BPE
tokenizer and the random weights in a temporary folder, then runs each side in its own
interpreter (nanoGCG pins transformers 4.47.1, we need 5), alternating shapes so that a change
in machine load hits both sides alike. Prints a Markdown table and writes ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import english_words
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import EOS, PROMPT, SHAPES, TARGET  # noqa: E402

VOCAB_SIZE = 8192


def build(workdir: Path) -> None:
    """Train the tokenizer on an English word list and save random weights for each shape."""
    words = sorted(english_words.get_english_words_set(["web2"], lower=True))
    lines = [" ".join(words[i : i + 50]) for i in range(0, len(words), 50)] + [PROMPT, TARGET]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        lines,
        trainers.BpeTrainer(
            vocab_size=VOCAB_SIZE,
            special_tokens=[EOS],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer.save(str(workdir / "tokenizer.json"))
    (workdir / "spec.json").write_text(json.dumps({"vocab_size": tokenizer.get_vocab_size()}))
    for shape, dims in SHAPES.items():
        torch.manual_seed(0)
        model = GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=VOCAB_SIZE, rotary_pct=0.25, **dims))
        torch.save(model.state_dict(), workdir / f"{shape}.pt")


def worker(python: Path, script: str, threads: int, device: str, *args: object) -> dict:
    env = {
        **os.environ,
        "BENCH_DEVICE": device,
        "PYTHONPATH": str(HERE),
        # On a CPU both sides get `threads` cores; on a GPU the host's cores are free, and our
        # batched retokenization check uses them as it does in the workflow.
        "TOKENIZERS_PARALLELISM": str(device != "cpu").lower(),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    done = subprocess.run(
        [str(python), str(HERE / script), *map(str, args)], env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"{script} {args} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--nanogcg-python", type=Path, default=HERE / ".venv-nanogcg" / "bin" / "python"
    )
    parser.add_argument("--steps-14m", type=int, default=4)
    parser.add_argument("--steps-70m", type=int, default=3)
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="alternating nanoGCG/ours rounds per shape, against load drift",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads on both sides (1 resists a shared machine's load)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--device",
        default="cpu",
        help="where both sides run: cpu, cuda or cuda:N (the batching target is meant for GPUs)",
    )
    args = parser.parse_args()
    results = {
        "load_before": load_average(),
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "device": args.device,
        "runs": [],
    }
    plan = [("14m", args.steps_14m, "8,32"), ("70m", args.steps_70m, "8")]
    nano, ours = args.nanogcg_python, Path(sys.executable)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        build(workdir)

        def run(python: Path, script: str, shape: str, steps: int, *more: object) -> None:
            results["runs"].append(
                worker(python, script, args.threads, args.device, workdir, shape, steps, *more)
            )

        for shape, steps, batches in plan:
            for _ in range(args.rounds):
                run(nano, "run_nanogcg.py", shape, steps)
                run(ours, "run_ours.py", shape, steps, "1", args.batch_size)
            run(ours, "run_ours.py", shape, steps, batches, args.batch_size)
            results[f"load_after_{shape}"] = load_average()
    (HERE / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))


def table(results: dict) -> str:
    """Median step times over all rounds; the speed-up is the median of per-round ratios."""
    lines = [
        "| shape | nanoGCG s/step | ours s/step | speed-up (per-round ratios) "
        "| ours ex×it/s: 1 / 8 / 32 examples | 32 vs 1 | scoring pass FLOP/s vs fp32 matmul |",
        "|---|---|---|---|---|---|---|",
    ]
    for shape in SHAPES:
        runs = [r for r in results["runs"] if r["shape"] == shape]
        nano = [r for r in runs if r["side"] == "nanogcg"]
        single = [r for r in runs if r["side"] == "ours" and "scoring" in r]
        ratios = [n["median_s"] / o["median_s"] for n, o in zip(nano, single, strict=True)]
        rate = {1: statistics.median(r["throughput"]["1"]["examples_its_per_s"] for r in single)}
        for r in runs:
            if r["side"] == "ours" and "scoring" not in r:
                rate.update({int(k): v["examples_its_per_s"] for k, v in r["throughput"].items()})
        rates = " / ".join(f"{rate[k]:.2f}" if k in rate else "–" for k in (1, 8, 32))
        gain = f"{rate[32] / rate[1]:.2f}×" if 32 in rate else "–"
        fraction = statistics.median(r["scoring"]["fraction_of_matmul"] for r in single)
        flops = statistics.median(r["scoring"]["flops_per_s"] for r in single)
        matmul = statistics.median(r["scoring"]["matmul_flops_per_s"] for r in single)
        lines.append(
            f"| {shape} | {statistics.median(r['median_s'] for r in nano):.2f} | "
            f"{statistics.median(r['median_s'] for r in single):.2f} | "
            f"{statistics.median(ratios):.2f}× ({', '.join(f'{x:.2f}' for x in ratios)}) | "
            f"{rates} | {gain} | {flops / 1e9:.1f} / {matmul / 1e9:.1f} GFLOP/s = "
            f"{fraction:.0%} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
