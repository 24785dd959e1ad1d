"""Where each position of a batched scoring pass reads its input from: the index arithmetic of
:meth:`~robustness_scaling.attacks.scoring.Scorer._hidden`, as a pure function of lengths.

A row's query is ``before`` (unless a prefix cache holds it) + ``attack[start:]`` + the
suffix (``after`` and, for a generation target, the target). The inputs of a pass are gathered
from one source row of embeddings laid out as ``[before (padded)] + attack (width n) + suffix
(padded)``; rows differ in their lengths, so each gathers its own positions and pads past its
end with the source's last column (masked out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class QueryPlan:
    """Per row (axis 0) and query position (axis 1): the source column each position reads,
    its position id, and the attention mask over [cached prefix, cached attack, query].

    ``query_len`` is each row's query length and ``attack_end`` the query index where its
    attack part ends (the suffix starts there)."""

    source_index: np.ndarray
    position: np.ndarray
    mask: np.ndarray
    query_len: np.ndarray
    attack_end: np.ndarray


def query_plan(
    before_len: np.ndarray,
    suffix_len: np.ndarray,
    *,
    before_width: int,
    attack_width: int,
    suffix_width: int,
    start: np.ndarray,
    attack_len: np.ndarray | None,
    prefix_cached: bool,
    attack_cached: bool,
) -> QueryPlan:
    """The plan of one pass over rows with ``before_len`` / ``suffix_len`` tokens (padded to
    ``before_width`` / ``suffix_width``) and an attack of ``attack_width`` columns, of which
    each row uses ``attack_len`` (default all) and queries from ``start`` on (earlier columns
    come from the attack cache when ``attack_cached``). With ``prefix_cached`` the ``before``
    tokens come from the prefix cache and are not in the query (``start`` must then be 0 or
    the attack cached)."""
    head_len = np.zeros_like(before_len) if prefix_cached else before_len
    attack_end = head_len + (attack_width if attack_len is None else attack_len) - start
    query_len = attack_end + suffix_len
    q = np.arange(int(query_len.max()))[None, :]
    offset = 0 if prefix_cached else before_width
    source_index = np.where(
        q < head_len[:, None],
        q,
        np.where(
            q < attack_end[:, None],
            offset + start[:, None] + q - head_len[:, None],
            offset + attack_width + q - attack_end[:, None],
        ),
    )
    source_index = np.minimum(source_index, offset + attack_width + suffix_width - 1)
    masks = []
    if prefix_cached:
        masks.append(np.arange(before_width)[None, :] < before_len[:, None])
    if attack_cached:
        masks.append(np.arange(attack_width)[None, :] < start[:, None])
    masks.append(q < query_len[:, None])
    return QueryPlan(
        source_index=source_index,
        position=(before_len - head_len + start)[:, None] + q,
        mask=np.concatenate(masks, axis=1),
        query_len=query_len,
        attack_end=attack_end,
    )
