"""The adversarial pool: every example ever generated, and how a round samples from it.

The pool is a table in order of addition (oldest first) with one row per adversarial example:
the example's columns (attack text already in place, true labels kept), where it came from,
how the attack went, and ``latest_loss``, its loss the last time it was trained on (+inf
until then). docs/method.md "Adversarial training": a round's adversarial examples are drawn
without replacement with
p ∝ exp(decay·(rank − max rank)), rank = (1 − w)·time_rank + w·loss_rank, favouring recent
examples and examples the model still gets wrong.

Deviation: the original computed the loss "rank" as ``np.argsort(losses)``, which is the sorting
permutation, not each example's rank. We use true ranks (``loss_rank[i]`` = place of example i
when losses are sorted ascending; ties, such as the unseen examples at +inf, keep pool order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from robustness_scaling.atomic import atomic_path
from robustness_scaling.tasks.base import Example

EXAMPLE_COLUMNS = (
    "instructions",
    "content",
    "answer_prompt",
    "clf_label",
    "proxy_clf_label",
    "gen_target",
    "proxy_gen_target",
)
POOL_COLUMNS = (
    "round_added",
    "train_index",
    *EXAMPLE_COLUMNS,
    "attack_text",
    "attack_success",
    "attack_loss",
    "latest_loss",
)


def read_pool(path: str | Path) -> pd.DataFrame:
    """The pool a round wrote, in order of addition."""
    return pd.read_parquet(path)


def write_pool(pool: pd.DataFrame, path: str | Path) -> None:
    """Parquet keeps the +inf of unseen examples and the content chunks as lists."""
    with atomic_path(path) as tmp:
        pool.to_parquet(tmp, index=False)


def pool_examples(pool: pd.DataFrame, rows: np.ndarray) -> list[Example]:
    """The pool's ``rows`` as examples, ready to train on."""
    return [Example.from_row(pool.iloc[int(row)].to_dict()) for row in rows]


def rank_weights(latest_loss: np.ndarray, decay: float, loss_rank_weight: float) -> np.ndarray:
    """Sampling probabilities of the pool's examples, given in order of addition.

    time_rank is the position in the pool (0 = oldest); loss_rank the true ascending rank of
    the latest training loss (unseen examples at +inf rank highest). Both favour examples the
    model has had least chance to learn.
    """
    n = len(latest_loss)
    time_rank = np.arange(n, dtype=np.float64)
    loss_rank = np.empty(n, dtype=np.float64)
    loss_rank[np.argsort(latest_loss, kind="stable")] = np.arange(n)
    rank = (1 - loss_rank_weight) * time_rank + loss_rank_weight * loss_rank
    weights = np.exp(decay * (rank - rank.max()))
    return weights / weights.sum()


def training_mix(
    pool_size: int, max_size: int, adv_share: float, fill: bool = False
) -> tuple[int, int]:
    """(adversarial, clean) example counts of a round's training set.

    The adversarial share is capped (paper: 0.8 of 1000), and the pool may hold fewer; clean
    examples fill the rest so every round trains on ``max_size`` examples. With ``fill`` a
    non-empty pool always gives the full share, repeating its examples when it is smaller.
    """
    n_adv = round(adv_share * max_size)
    if not (fill and pool_size):
        n_adv = min(n_adv, pool_size)
    return n_adv, max_size - n_adv


def sample_training_set(
    pool: pd.DataFrame,
    n_train: int,
    max_size: int,
    adv_share: float,
    decay: float,
    loss_rank_weight: float,
    rng: np.random.Generator,
    fill: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Pool rows and clean training indices of one round's training set.

    Adversarial rows are drawn without replacement by :func:`rank_weights`; clean indices
    uniformly without replacement from the first ``n_train`` training examples. With ``fill``
    and a pool smaller than the adversarial share, every pool row appears equally often and
    the remainder is drawn by rank weight: a few rounds of attacks then weigh in training as
    the paper's many rounds do, while the clean part stays large and fresh.
    """
    n_adv, n_clean = training_mix(len(pool), max_size, adv_share, fill)
    if n_clean > n_train:
        raise ValueError(
            f"a round needs {n_clean} clean examples but n_train is {n_train}; "
            "raise n_train or lower max_augmented_data_size"
        )
    weights = rank_weights(pool["latest_loss"].to_numpy(np.float64), decay, loss_rank_weight)
    copies = n_adv // len(pool) if n_adv > len(pool) else 0  # only with fill
    rest = n_adv - copies * len(pool)
    adversarial = np.concatenate(
        [
            np.tile(np.arange(len(pool)), copies),
            rng.choice(len(pool), size=rest, replace=False, p=weights),
        ]
    ).astype(int)
    clean = rng.choice(n_train, size=n_clean, replace=False)
    return adversarial, clean
