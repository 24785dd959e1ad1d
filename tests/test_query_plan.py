"""The index plan of a batched scoring pass: each row reads its own prompt, in order, with
position ids that continue it and a mask that hides padding and what the caches must not show."""

from __future__ import annotations

import numpy as np
import pytest

from robustness_scaling.attacks.query_plan import query_plan


def test_without_caches_a_row_reads_before_attack_and_suffix_in_order():
    plan = query_plan(
        np.array([2, 1]),
        np.array([1, 2]),
        before_width=2,
        attack_width=3,
        suffix_width=2,
        start=np.array([0, 0]),
        attack_len=None,
        prefix_cached=False,
        attack_cached=False,
    )
    # Source columns: before 0-1, attack 2-4, suffix 5-6.
    assert plan.source_index.tolist() == [[0, 1, 2, 3, 4, 5], [0, 2, 3, 4, 5, 6]]
    assert plan.position.tolist() == [list(range(6))] * 2
    assert plan.mask.all() and plan.query_len.tolist() == [6, 6]
    assert plan.attack_end.tolist() == [5, 4]


def test_with_both_caches_a_row_queries_from_its_first_changed_attack_token():
    plan = query_plan(
        np.array([2, 1]),
        np.array([1, 2]),
        before_width=2,
        attack_width=3,
        suffix_width=2,
        start=np.array([1, 2]),
        attack_len=None,
        prefix_cached=True,
        attack_cached=True,
    )
    # Source columns: attack 0-2, suffix 3-4; before comes from the prefix cache.
    assert plan.source_index.tolist() == [[1, 2, 3], [2, 3, 4]]
    assert plan.position.tolist() == [[3, 4, 5], [3, 4, 5]]
    prefix, attack, query = plan.mask[:, :2], plan.mask[:, 2:5], plan.mask[:, 5:]
    assert prefix.tolist() == [[True, True], [True, False]]
    assert attack.tolist() == [[True, False, False], [True, True, False]]
    assert query.all()


def test_a_shorter_attack_pads_past_its_rows_end_with_a_masked_valid_column():
    plan = query_plan(
        np.array([1, 1]),
        np.array([1, 1]),
        before_width=1,
        attack_width=3,
        suffix_width=1,
        start=np.array([0, 0]),
        attack_len=np.array([3, 1]),
        prefix_cached=False,
        attack_cached=False,
    )
    assert plan.query_len.tolist() == [5, 3]
    assert plan.source_index.tolist() == [[0, 1, 2, 3, 4], [0, 1, 4, 4, 4]]
    assert plan.mask.tolist() == [[True] * 5, [True, True, True, False, False]]


@pytest.mark.parametrize("seed", range(20))
def test_gathering_by_the_plan_gives_each_rows_own_prompt(seed):
    """Random rows and caches: the gathered query, unpadded, is exactly the row's prompt
    after what its caches hold, and positions count on from the cached part."""
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(1, 6))
    before_len = rng.integers(1, 5, rows)
    suffix_len = rng.integers(1, 5, rows)
    attack_width = int(rng.integers(1, 6))
    attack_len = rng.integers(1, attack_width + 1, rows) if rng.random() < 0.5 else None
    prefix_cached = bool(rng.random() < 0.5)
    attack_cached = prefix_cached and bool(
        rng.random() < 0.5
    )  # the attack cache follows the prefix's
    used = np.full(rows, attack_width) if attack_len is None else attack_len
    start = rng.integers(0, used) if attack_cached else np.zeros(rows, dtype=int)
    before_width, suffix_width = int(before_len.max()), int(suffix_len.max())
    plan = query_plan(
        before_len,
        suffix_len,
        before_width=before_width,
        attack_width=attack_width,
        suffix_width=suffix_width,
        start=start,
        attack_len=attack_len,
        prefix_cached=prefix_cached,
        attack_cached=attack_cached,
    )
    # Token "ids" that name their part and place: 100s before, 200s attack, 300s suffix.
    before = 100 + np.arange(before_width)
    attack = 200 + np.arange(attack_width)
    suffix = 300 + np.arange(suffix_width)
    source = np.concatenate([attack, suffix] if prefix_cached else [before, attack, suffix])
    for r in range(rows):
        prompt = [*before[: before_len[r]], *attack[: used[r]], *suffix[: suffix_len[r]]]
        skipped = (before_len[r] if prefix_cached else 0) + start[r]
        query = source[plan.source_index[r, : plan.query_len[r]]]
        assert query.tolist() == prompt[skipped:]
        assert plan.position[r, : plan.query_len[r]].tolist() == list(range(skipped, len(prompt)))
        assert plan.mask[r, -plan.source_index.shape[1] :].sum() == plan.query_len[r]
