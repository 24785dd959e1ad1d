"""BEAST: one token per iteration, best-so-far records, sampler FLOPs, resumable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from attack_fixtures import (
    examples,
    tiny_causal_lm,
    tiny_classifier,
)

from robustness_scaling.attacks import BEAST, BEASTOptions
from robustness_scaling.attacks.beast import gumbel_noise
from robustness_scaling.flops import forward_flops
from robustness_scaling.tasks.base import Placement, attack_context

CHUNK = Placement(overwritable_chunk=1)
SMALL = BEASTOptions(beam_width=3, branch_factor=4)


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def models(tokenizer):
    return tiny_classifier(tokenizer), tiny_causal_lm(tokenizer)


def test_suffix_grows_one_token_per_iteration(models, tokenizer):
    victim, sampler = models
    result = BEAST(victim, tokenizer, sampler).run(examples(2), CHUNK, n_iterations=5)
    assert result.state.extra["beams"].shape == (2, 7, 5)
    more = BEAST(victim, tokenizer, sampler).run(
        examples(2), CHUNK, n_iterations=2, state=result.state
    )
    assert more.state.extra["beams"].shape == (2, 7, 7)
    records = pd.concat([result.records, more.records])
    lengths = records["attack_ids"].map(len)
    assert (lengths <= records["iteration"]).all()
    assert (records.loc[records["iteration"] == 1, "attack_ids"].map(len) == 1).all()


def test_records_are_best_so_far(models, tokenizer):
    victim, sampler = models
    records = (
        BEAST(victim, tokenizer, sampler, SMALL).run(examples(3), CHUNK, n_iterations=6).records
    )
    for _, rows in records[records["iteration"] > 0].groupby("example_id"):
        assert rows["loss"].is_monotonic_decreasing


def test_flops_count_victim_candidates_and_sampler_beams(models, tokenizer):
    """The victim's FLOPs count the tokens of each candidate's whole prompt as it reads it
    (a partial UTF-8 byte token decodes to a replacement character of three bytes)."""
    victim, sampler = models
    data = examples(1)
    attack = BEAST(victim, tokenizer, sampler, SMALL)
    scored = []
    score_texts = attack._score_texts

    def spy(layout, inputs, rows, texts):
        scored.append(list(texts))
        return score_texts(layout, inputs, rows, texts)

    attack._score_texts = spy
    records = attack.run(data, CHUNK, n_iterations=2).records
    before, after = attack_context(data[0], CHUNK)
    n_before = len(tokenizer(before)["input_ids"])
    n_victim, n_sampler = victim.num_parameters(), sampler.num_parameters()
    assert [len(texts) for texts in scored] == [4, 12]

    def victim_flops(texts):
        return sum(
            forward_flops(n_victim, len(tokenizer(before + t + after)["input_ids"])) for t in texts
        )

    first = victim_flops(scored[0]) + forward_flops(n_sampler, n_before)
    second = victim_flops(scored[1]) + 3 * forward_flops(n_sampler, n_before + 1)
    assert records["flops"].tolist() == [0, first, second]


def test_proposals_are_never_special_tokens(models, tokenizer):
    victim, sampler = models
    # Make the sampler all but certain to propose eos if the mask did not stop it.
    with torch.no_grad():
        sampler.get_output_embeddings().weight[tokenizer.eos_token_id] *= 1000
    try:
        attack = BEAST(victim, tokenizer, sampler, SMALL)
        state = attack.run(examples(2), CHUNK, n_iterations=4).state
    finally:
        with torch.no_grad():
            sampler.get_output_embeddings().weight[tokenizer.eos_token_id] /= 1000
    beams = state.extra["beams"].flatten().tolist()
    assert not set(beams) & set(tokenizer.all_special_ids)


def test_resume_and_batching_change_nothing(models, tokenizer):
    victim, sampler = models
    attack = BEAST(victim, tokenizer, sampler, SMALL)
    straight = attack.run(examples(3), CHUNK, n_iterations=4, example_ids=[5, 6, 7]).records
    first = attack.run(examples(3), CHUNK, n_iterations=1, example_ids=[5, 6, 7])
    second = attack.run(
        examples(3), CHUNK, n_iterations=3, example_ids=[5, 6, 7], state=first.state
    )
    resumed = pd.concat([first.records, second.records]).reset_index(drop=True)
    pd.testing.assert_frame_equal(resumed, straight)
    alone = attack.run(examples(3)[1:2], CHUNK, n_iterations=4, example_ids=[6]).records
    mine = straight[straight["example_id"] == 6].reset_index(drop=True)
    assert alone["attack_ids"].tolist() == mine["attack_ids"].tolist()
    np.testing.assert_allclose(alone["loss"], mine["loss"], atol=1e-5, rtol=1e-5)


def test_gumbel_top_k_samples_the_softmax():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    noise = gumbel_noise([torch.Generator().manual_seed(0)], 20_000, 4)[0]
    first = (probs.log() + noise).argmax(-1)
    torch.testing.assert_close(
        torch.bincount(first, minlength=4) / 20_000, probs, atol=0.01, rtol=0
    )
