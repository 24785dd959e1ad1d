"""Peak memory and time of a GCG-style scoring pass: shared prefix vs a per-row cache copy.

    python benchmarks/attack_memory/measure.py [--layers 8] [--hidden 512] [--prefix 300]
        [--examples 1]

Each measurement runs in a fresh process (peak RSS is a high-water mark): a random GPT-NeoX
classifier, ``--examples`` examples whose ``before`` has ``--prefix`` tokens, their prefix cache
and the current attack's cache, then one pass scoring R candidate rows (spread over the
examples) that change the attack from position 5 on. ``shared`` is the scorer's pass (the prefix
and attack states kept once per example); ``per-row`` hands the model a key/value cache with a
copy of them per row, as scoring did before. Reported: the growth of peak RSS over the set-up,
per row between 64 and 512 rows, and the pass's time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CHILD = """
import json, resource, sys, time
import numpy as np, torch
from transformers import GPTNeoXConfig, GPTNeoXForSequenceClassification, PreTrainedTokenizerFast
from tokenizers import Tokenizer, models, pre_tokenizers
from robustness_scaling.attacks.scoring import Scorer
layers, hidden, prefix, examples, rows, path = json.loads(sys.argv[1])
torch.manual_seed(0); torch.set_num_threads(1)
vocab = {f"t{i}": i for i in range(512)}
word_level = Tokenizer(models.WordLevel(vocab, unk_token="t0"))
word_level.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
tok = PreTrainedTokenizerFast(tokenizer_object=word_level)
tok.pad_token = "t0"
config = GPTNeoXConfig(vocab_size=512, hidden_size=hidden, num_hidden_layers=layers,
    num_attention_heads=hidden // 64, intermediate_size=4 * hidden, max_position_embeddings=2048,
    num_labels=2, pad_token_id=0)
model = GPTNeoXForSequenceClassification(config).eval()
scorer = Scorer(model, tok, batch_size=rows)
prompts = [" ".join(f"t{(i + 7 * e) % 500 + 1}" for i in range(prefix)) for e in range(examples)]
layout = scorer.layout(prompts, [" t7 t8"] * examples, [1] * examples, [0] * examples)
attack = torch.randint(1, 500, (examples, 10))
_, _, attack_cache = scorer.loss_gradient(layout, attack)
index = np.arange(rows) % examples
candidates = attack[index].clone(); candidates[:, 5] = torch.randint(1, 500, (rows,))
start = np.full(rows, 5)
embeds = scorer.embed(candidates)
assert layout.before_len[0] == prefix, layout.before_len
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
began = time.perf_counter()
with torch.no_grad():
    scorer._hidden(layout, embeds, index, start, attack_cache, keep_cache=(path == "per-row"))
seconds = time.perf_counter() - began
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_mb": (peak - before) / 1024, "seconds": seconds}))
"""


def measure(layers: int, hidden: int, prefix: int, examples: int, rows: int, path: str) -> dict:
    args = json.dumps([layers, hidden, prefix, examples, rows, path])
    out = subprocess.run(
        [sys.executable, "-c", CHILD, args], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--prefix", type=int, default=300)
    parser.add_argument("--examples", type=int, default=1, help="examples the rows spread over")
    args = parser.parse_args()
    shape = (args.layers, args.hidden, args.prefix, args.examples)
    kv_row = 2 * args.layers * args.hidden * (args.prefix + 10) * 4 / 2**20
    print(
        f"{args.layers} layers, hidden {args.hidden}, prefix {args.prefix} tokens, "
        f"{args.examples} example(s): the cached states of one row are {kv_row:.1f} MB"
    )
    started = time.perf_counter()
    for path in ("shared", "per-row"):
        small, large = (measure(*shape, rows, path) for rows in (64, 512))
        per_row = (large["growth_mb"] - small["growth_mb"]) / (512 - 64)
        print(
            f"{path:>8}: peak growth {small['growth_mb']:7.1f} MB at 64 rows, "
            f"{large['growth_mb']:7.1f} MB at 512 rows ({per_row:.2f} MB per row); "
            f"pass {small['seconds']:.2f} s / {large['seconds']:.2f} s"
        )
    print(
        f"({time.perf_counter() - started:.0f} s; max RSS of this process "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)"
    )


if __name__ == "__main__":
    main()
