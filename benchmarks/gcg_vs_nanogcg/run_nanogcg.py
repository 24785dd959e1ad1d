"""Worker run in the nanoGCG venv: time nanoGCG 0.3.0's GCG steps on one shape."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import nanogcg
import nanogcg.gcg
import torch
from common import INIT, PROMPT, SEARCH_WIDTH, TARGET, TOP_K, load, now, step_times


def main(workdir: Path, shape: str, n_steps: int) -> None:
    model, tokenizer = load(workdir, shape)
    stamps: list[float] = []
    gradient = nanogcg.gcg.GCG.compute_token_gradient

    def timed_gradient(self, optim_ids):  # each step starts with the token gradient
        stamps.append(now())
        return gradient(self, optim_ids)

    nanogcg.gcg.GCG.compute_token_gradient = timed_gradient
    logging.getLogger("nanogcg").setLevel(logging.WARNING)
    config = nanogcg.GCGOptions(
        num_steps=n_steps,
        optim_str_init=INIT,
        search_width=SEARCH_WIDTH,
        topk=TOP_K,
        allow_non_ascii=True,
        seed=0,
        verbosity="WARNING",
    )
    result = nanogcg.run(model, tokenizer, PROMPT, TARGET, config)
    stamps.append(now())
    print(
        json.dumps(
            {
                "side": "nanogcg",
                "shape": shape,
                "torch_threads": torch.get_num_threads(),
                "final_loss": result.losses[-1],
                **step_times(stamps),
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
