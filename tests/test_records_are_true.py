"""Every attack record is true of the text it stores (issue 14's proof).

Each record of GCG, RandomToken and BEAST, at the chunk, suffix, infix and prefix positions, is
re-scored from its ``attack_text`` alone by a plain forward pass on the whole prompt
(``rescoring``); the predicted label and success must be equal and the loss within 1e-4
relative. The tokenizer is the offline family's byte-level BPE with a 400-token vocabulary, on
which almost no random ids survive decoding and re-encoding, so scoring ids instead of text
would fail here.
"""

from __future__ import annotations

import pytest
from attack_fixtures import examples, tiny_causal_lm, tiny_classifier
from rescoring import assert_record_is_true, rescore_classifier, rescore_target

from robustness_scaling.attacks import (
    BEAST,
    GCG,
    BEASTOptions,
    GCGOptions,
    RandomToken,
    RandomTokenOptions,
    correctly_classified,
)
from robustness_scaling.attacks.tokens import decode
from robustness_scaling.tasks.base import Placement, attack_context

pytestmark = pytest.mark.usefixtures("single_thread")

PLACEMENTS = {
    "chunk": Placement(overwritable_chunk=1),
    "suffix": Placement(position=1.0),
    "infix90": Placement(position=0.9),
    "prefix": Placement(position=0.0),
}


@pytest.fixture(scope="module")
def victim(tokenizer):
    """A random classifier that some attacks break (both outcomes occur in the records)."""
    return tiny_classifier(tokenizer, "qwen2", seed=4)


@pytest.fixture(scope="module")
def sampler(tokenizer):
    return tiny_causal_lm(tokenizer)


def _attack(method, model, tokenizer, sampler):
    if method == "gcg":
        return GCG(model, tokenizer, GCGOptions(n_attack_tokens=4, top_k=64, n_candidates=24))
    if method == "random_token":
        return RandomToken(model, tokenizer, RandomTokenOptions(n_attack_tokens=4))
    return BEAST(model, tokenizer, sampler, BEASTOptions(beam_width=3, branch_factor=3))


ITERATIONS = {"gcg": 3, "random_token": 30, "beast": 4}


@pytest.mark.parametrize("position", list(PLACEMENTS))
@pytest.mark.parametrize("method", ["gcg", "random_token", "beast"])
def test_every_classifier_record_is_true_of_its_text(victim, sampler, tokenizer, method, position):
    placement = PLACEMENTS[position]
    data = examples(16)
    keep = correctly_classified(victim, tokenizer, data)
    attacked = [data[i] for i in keep]
    records = (
        _attack(method, victim, tokenizer, sampler)
        .run(attacked, placement, n_iterations=ITERATIONS[method], example_ids=keep)
        .records
    )
    by_id = dict(zip(keep, attacked, strict=True))
    for row in records.itertuples():
        rescored = rescore_classifier(
            victim, tokenizer, by_id[row.example_id], placement, row.attack_text, True
        )
        assert_record_is_true(row, rescored, f"{method} {position} record {row}")
    if method == "random_token":
        assert records["success"].any() and not records["success"].all()


@pytest.mark.parametrize("method", ["gcg", "random_token", "beast"])
def test_every_target_string_record_is_true_of_its_text(sampler, tokenizer, method):
    """A causal-LM victim scored on a target string (generation tasks without a judge)."""
    lm = tiny_causal_lm(tokenizer, seed=5)
    placement = PLACEMENTS["suffix"]
    data = examples(4)
    records = (
        _attack(method, lm, tokenizer, sampler)
        .run(data, placement, n_iterations=ITERATIONS[method])
        .records
    )
    for row in records.itertuples():
        rescored = rescore_target(
            lm, tokenizer, data[row.example_id], placement, row.attack_text, True
        )
        assert_record_is_true(row, rescored, f"{method} record {row}")


def test_random_draws_mostly_do_not_survive_the_prompt(victim, tokenizer):
    """The test above has teeth: most drawn ids are not what the victim reads."""
    placement = PLACEMENTS["chunk"]
    data = examples(8)
    records = (
        RandomToken(victim, tokenizer, RandomTokenOptions(n_attack_tokens=4))
        .run(data, placement, n_iterations=25)
        .records
    )
    drawn = records[records["iteration"] > 0]
    changed = 0
    for row in drawn.itertuples():
        before, after = attack_context(data[row.example_id], placement)
        slot = tokenizer(before + row.attack_text + after)["input_ids"]
        head = tokenizer(before)["input_ids"]
        tail = tokenizer(after, add_special_tokens=False)["input_ids"]
        changed += slot != head + list(row.attack_ids) + tail
    assert changed > len(drawn) / 2
    assert decode(tokenizer, [drawn["attack_ids"].iloc[0]])[0] == drawn["attack_text"].iloc[0]
