"""Peak GPU memory and time of a finetuning step and of a GCG iteration on random Pythia-shaped
classifiers, on one GPU and sharded (FSDP2, as the workflow shards training) over every GPU the
machine has: the figures issue 17 asks the README for. Not a test.

At the paper's settings: float32, Adafactor, a finetuning step of 8 rows of 379 tokens (IMDB's
estimated prompt length), and GCG with its defaults (10 attack tokens, 128 candidates, top-k 256,
scoring batch 512) at the suffix of ``--gcg-examples`` prompts of that length. Models are built
on the meta device and materialised on the GPU with random weights, so no download is needed;
the tokenizer is a byte-level BPE trained on the English word list, at Pythia's vocabulary size
where the list allows. A shape that runs out of memory is recorded as such.

    .venv/bin/python benchmarks/gpu_memory/measure.py --out gpu_memory.json
    .venv/bin/python benchmarks/gpu_memory/measure.py --shapes tiny --device cpu   # a dry run

With more than one GPU, the sharded finetuning step runs under torchrun, one rank per GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from transformers import GPTNeoXConfig, GPTNeoXForSequenceClassification, PreTrainedTokenizerFast

from robustness_scaling.attack_options import GCGOptions
from robustness_scaling.attacks import GCG
from robustness_scaling.jobs.sharded_launch import torchrun
from robustness_scaling.models.load import load_tokenizer
from robustness_scaling.models.tiny import train_tokenizer
from robustness_scaling.tasks.base import Example, Placement
from robustness_scaling.tasks.words import english_words
from robustness_scaling.training.adafactor import Adafactor

PYTHIA_VOCAB = 50304
SHAPES = {  # EleutherAI/pythia-* layer shapes
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4},
    "1b": {"hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 8},
    "2.8b": {"hidden_size": 2560, "num_hidden_layers": 32, "num_attention_heads": 32},
    "6.9b": {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32},
    "12b": {"hidden_size": 5120, "num_hidden_layers": 36, "num_attention_heads": 40},
}
ROWS, TOKENS = 8, 379
STEPS = 3


def build_tokenizer(folder: Path, vocab_size: int) -> PreTrainedTokenizerFast:
    """The tiny family's byte-level BPE, trained on the English word list."""
    words = sorted(english_words())
    lines = [" ".join(words[i : i + 50]) for i in range(0, len(words), 50)]
    train_tokenizer(lines, vocab_size, folder)
    return load_tokenizer(folder)


def random_classifier(shape: str, vocab: int, device: torch.device, sharded: bool):
    """A Pythia-shaped classifier with random weights, made on the device (after sharding)."""
    dims = SHAPES[shape]
    config = GPTNeoXConfig(
        vocab_size=vocab,
        rotary_pct=0.25,
        intermediate_size=4 * dims["hidden_size"],
        num_labels=2,
        pad_token_id=0,
        **dims,
    )
    with torch.device("meta"):
        model = GPTNeoXForSequenceClassification(config)
    if sharded:  # as robustness_scaling.training.sharded.shard does, before materialising
        from torch.distributed.fsdp import fully_shard

        for layer in model.gpt_neox.layers:
            fully_shard(layer)
        fully_shard(model)
    model.to_empty(device=device)
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.02)
        rotary = model.gpt_neox.rotary_emb  # its buffers are not parameters: made afresh
        fresh = type(rotary)(config)
        rotary.inv_freq.copy_(fresh.inv_freq)
        rotary.original_inv_freq.copy_(fresh.original_inv_freq)
    return model


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_bytes(device: torch.device) -> int | None:
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None


def finetune_step(shape: str, vocab: int, device: torch.device, sharded: bool) -> dict:
    """Median time and peak memory of an Adafactor step on 8 rows (each rank's share)."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model = random_classifier(shape, vocab, device, sharded)
    optimizer = Adafactor(model.parameters(), lr=1e-5)
    rows = ROWS // world
    generator = torch.Generator().manual_seed(rank)
    ids = torch.randint(1, vocab, (rows, TOKENS), generator=generator).to(device)
    labels = torch.randint(0, 2, (rows,), generator=generator).to(device)
    times = []
    for step in range(STEPS + 1):
        synchronize(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(input_ids=ids).logits.float(), labels)
        (loss * world).backward()
        optimizer.step()
        synchronize(device)
        if step:  # the first step allocates the optimizer state
            times.append(time.perf_counter() - start)
    return {
        "processes": world,
        "rows_per_process": rows,
        "step_s": statistics.median(times),
        "peak_gib": None if peak_bytes(device) is None else peak_bytes(device) / 2**30,
    }


def gcg_iteration(shape: str, tokenizer, device: torch.device, n_examples: int) -> dict:
    """Time and peak memory of GCG iterations at the suffix of ``n_examples`` long prompts."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model = random_classifier(shape, len(tokenizer), device, sharded=False).eval()
    words = sorted(english_words())
    content = " ".join(words[i * 7 % len(words)] for i in range(TOKENS))
    ids = tokenizer(content)["input_ids"][: TOKENS - 12]
    example = Example(
        instructions="",
        content=(tokenizer.decode(ids),),
        answer_prompt="",
        clf_label=0,
        proxy_clf_label=1,
        gen_target="",
        proxy_gen_target="",
    )
    attack = GCG(model, tokenizer, GCGOptions())
    synchronize(device)
    start = time.perf_counter()
    attack.run([example] * n_examples, Placement(position=1.0), False, n_iterations=1)
    synchronize(device)
    first = time.perf_counter() - start
    start = time.perf_counter()
    attack.run([example] * n_examples, Placement(position=1.0), False, n_iterations=2)
    synchronize(device)
    return {
        "examples": n_examples,
        "iteration_s": (time.perf_counter() - start) / 2,
        "first_iteration_s": first,
        "peak_gib": None if peak_bytes(device) is None else peak_bytes(device) / 2**30,
    }


def guarded(measure, *args) -> dict:
    try:
        return measure(*args)
    except torch.OutOfMemoryError as error:
        return {"out_of_memory": str(error).splitlines()[0]}
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def sharded_rank(shape: str, vocab: int, out: Path) -> None:
    """One rank of the sharded finetuning step (under torchrun)."""
    import torch.distributed as dist

    from robustness_scaling.training.sharded import join_process_group

    device = join_process_group(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    result = guarded(finetune_step, shape, vocab, device, True)
    results: list = [None] * dist.get_world_size()
    dist.all_gather_object(results, result)
    if dist.get_rank() == 0:
        out.write_text(json.dumps(results))
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["1b", "2.8b", "6.9b", "12b"])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--gcg-examples", type=int, default=32)
    parser.add_argument("--processes", type=int, default=None, help="sharded ranks (all GPUs)")
    parser.add_argument("--out", type=Path, default=Path("gpu_memory.json"))
    parser.add_argument(
        "--rank-of", nargs=3, metavar=("SHAPE", "VOCAB", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.rank_of:
        sharded_rank(args.rank_of[0], int(args.rank_of[1]), Path(args.rank_of[2]))
        return
    device = torch.device(args.device)
    processes = args.processes or (torch.cuda.device_count() if device.type == "cuda" else 1)
    results: dict = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "settings": {"rows": ROWS, "tokens": TOKENS, "dtype": "float32", "gcg": "defaults"},
        "shapes": {},
    }
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = build_tokenizer(Path(folder), PYTHIA_VOCAB)
        vocab = len(tokenizer)
        results["vocab"] = vocab
        for shape in args.shapes:
            row = {
                "finetune_one_device": guarded(finetune_step, shape, vocab, device, False),
                "gcg_one_device": guarded(
                    gcg_iteration, shape, tokenizer, device, args.gcg_examples
                ),
            }
            if processes > 1:
                out = Path(folder) / f"{shape}.json"
                command = torchrun(processes, __file__, "--rank-of", shape, str(vocab), str(out))
                subprocess.run(command, check=False)
                row["finetune_sharded"] = json.loads(out.read_text()) if out.exists() else None
            results["shapes"][shape] = row
            print(shape, json.dumps(row), flush=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
