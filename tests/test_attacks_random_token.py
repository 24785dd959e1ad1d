"""RandomToken: cumulative ASR, first success kept, resumable, no special tokens."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from attack_fixtures import examples, tiny_classifier

from robustness_scaling.attacks import (
    RandomToken,
    RandomTokenOptions,
    attack_success_rate,
    correctly_classified,
)
from robustness_scaling.flops import forward_flops
from robustness_scaling.tasks.base import Placement

CHUNK = Placement(overwritable_chunk=1)


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_classifier(tokenizer, "qwen2", seed=4)


@pytest.fixture(scope="module")
def attacked(model, tokenizer):
    """Correctly classified examples, as the study attacks them."""
    data = examples(16)
    keep = correctly_classified(model, tokenizer, data)
    assert 2 <= len(keep) < 16
    return [data[i] for i in keep], keep


def test_asr_starts_at_zero_and_never_decreases(model, tokenizer, attacked):
    data, ids = attacked
    records = (
        RandomToken(model, tokenizer).run(data, CHUNK, n_iterations=60, example_ids=ids).records
    )
    asr = attack_success_rate(records)
    assert asr[0] == 0
    assert asr.is_monotonic_increasing
    assert asr.iloc[-1] > 0


def test_first_success_is_kept(model, tokenizer, attacked):
    data, ids = attacked
    records = (
        RandomToken(model, tokenizer).run(data, CHUNK, n_iterations=60, example_ids=ids).records
    )
    broken = 0
    for _, rows in records[records["iteration"] > 0].groupby("example_id"):
        hits = np.flatnonzero(rows["success"].to_numpy())
        if len(hits):
            broken += 1
            after = rows.iloc[hits[0] :]
            assert after["success"].all()
            assert after["attack_text"].nunique() == 1
            assert after["loss"].nunique() == 1
    assert broken > 0


def test_draws_are_uniform_non_special_tokens_and_flops(model, tokenizer, attacked):
    data, ids = attacked
    records = (
        RandomToken(model, tokenizer, RandomTokenOptions(seed=1))
        .run(data, CHUNK, n_iterations=40, example_ids=ids)
        .records
    )
    drawn = np.concatenate(records.loc[records["iteration"] > 0, "attack_ids"].to_list())
    assert len(drawn) > 1000
    assert not set(drawn.tolist()) & set(tokenizer.all_special_ids)
    assert drawn.max() < tokenizer.vocab_size
    attacked_rows = records[records["iteration"] > 0]
    per_token = attacked_rows["flops"] / forward_flops(model.num_parameters(), 1)
    assert (per_token == per_token.round()).all() and (per_token > 10).all()


def test_resume_equals_straight_through(model, tokenizer, attacked):
    data, ids = attacked
    attack = RandomToken(model, tokenizer)
    first = attack.run(data, CHUNK, n_iterations=15, example_ids=ids)
    second = attack.run(data, CHUNK, n_iterations=25, example_ids=ids, state=first.state)
    resumed = pd.concat([first.records, second.records]).reset_index(drop=True)
    straight = attack.run(data, CHUNK, n_iterations=40, example_ids=ids).records
    pd.testing.assert_frame_equal(resumed.drop(columns="loss"), straight.drop(columns="loss"))
    pd.testing.assert_series_equal(resumed["loss"], straight["loss"], atol=1e-6, rtol=1e-6)


def test_batched_equals_one_example_at_a_time(model, tokenizer, attacked):
    data, ids = attacked
    batched = (
        RandomToken(model, tokenizer).run(data, CHUNK, n_iterations=10, example_ids=ids).records
    )
    for example, i in zip(data, ids, strict=True):
        alone = (
            RandomToken(model, tokenizer)
            .run([example], CHUNK, n_iterations=10, example_ids=[i])
            .records
        )
        mine = batched[batched["example_id"] == i].reset_index(drop=True)
        pd.testing.assert_series_equal(alone["attack_text"], mine["attack_text"])
        pd.testing.assert_series_equal(alone["loss"], mine["loss"], atol=1e-5, rtol=1e-5)
