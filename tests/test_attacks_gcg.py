"""GCG: it attacks, it is reproducible, and batching, caching or resuming change nothing."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch
from attack_fixtures import examples, tiny_causal_lm, tiny_classifier

from robustness_scaling.attacks import GCG, GCGOptions
from robustness_scaling.attacks.resumable import AttackFiles
from robustness_scaling.attacks.tokens import (
    _rust_backend,
    decode,
    encode_prompts,
    keeps_its_tokens,
)
from robustness_scaling.flops import forward_flops, training_flops
from robustness_scaling.tasks.base import Placement, attack_context

CHUNK = Placement(overwritable_chunk=1)
SMALL = GCGOptions(top_k=24, n_candidates=12, seed=3)


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_classifier(tokenizer)


def _run(model, tokenizer, config=SMALL, n=3, its=3, **kwargs) -> pd.DataFrame:
    return GCG(model, tokenizer, config).run(examples(n), CHUNK, n_iterations=its, **kwargs).records


def _assert_same(a: pd.DataFrame, b: pd.DataFrame, exact: bool = True) -> None:
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    if exact:
        pd.testing.assert_frame_equal(a, b)
        return
    pd.testing.assert_frame_equal(a.drop(columns="loss"), b.drop(columns="loss"))
    pd.testing.assert_series_equal(a["loss"], b["loss"], atol=1e-5, rtol=1e-5)


def test_gcg_lowers_the_loss(model, tokenizer):
    config = GCGOptions(top_k=64, n_candidates=64)
    records = _run(model, tokenizer, config, n=1, its=6)
    loss = records.set_index("iteration")["loss"]
    assert loss[6] < loss[1] - 1e-3


def test_records_layout_and_flops(model, tokenizer):
    attack = GCG(model, tokenizer, SMALL)
    records = attack.run(examples(2), CHUNK, n_iterations=2).records
    assert list(records["iteration"]) == [0, 0, 1, 1, 2, 2]
    clean = records[records["iteration"] == 0]
    assert (clean["flops"] == 0).all() and (clean["attack_text"] == "").all()
    attacked = records[records["iteration"] > 0]
    assert attacked["attack_ids"].map(len).eq(SMALL.n_attack_tokens).all()
    n_params = model.num_parameters()
    for flops in attacked["flops"]:
        # (6 + 2 n_valid) N T for some prompt length T and 0 <= n_valid <= n_candidates.
        per_pass = [
            (flops - training_flops(n_params, t)) / forward_flops(n_params, t)
            for t in range(1, 400)
            if (flops - training_flops(n_params, t)) % forward_flops(n_params, t) == 0
        ]
        assert any(0 <= v <= SMALL.n_candidates for v in per_pass)


def test_attack_text_keeps_its_tokens_in_the_prompt(model, tokenizer):
    """Every record's prompt, tokenized whole, reads its attack ids in the slot."""
    data = examples(3)
    records = _run(model, tokenizer, its=3)
    for row in records[records["iteration"] > 0].itertuples():
        before, after = attack_context(data[row.example_id], CHUNK)
        whole = tokenizer(before + row.attack_text + after)["input_ids"]
        head = tokenizer(before)["input_ids"]
        tail = tokenizer(after, add_special_tokens=False)["input_ids"]
        assert whole == head + list(row.attack_ids) + tail


def test_the_prompt_check_matches_the_transformers_tokenizer(tokenizer):
    """The Rust backend, called directly, decodes and encodes exactly as transformers does,
    also when a padded, truncating call has left padding and truncation on in the backend."""
    ids = torch.randint(
        0, tokenizer.vocab_size, (400, 4), generator=torch.Generator().manual_seed(0)
    )
    texts = tokenizer.batch_decode(
        ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
    )
    context = [("User password: apple", "\n\nAnswer:")] * len(texts)
    around = [
        (tokenizer(b)["input_ids"], tokenizer(a, add_special_tokens=False)["input_ids"])
        for b, a in context
    ]
    prompts = [b + t + a for (b, a), t in zip(context, texts, strict=True)]
    encoded = [tokenizer(p)["input_ids"] for p in prompts]
    expected = [
        e == head + r + tail
        for e, r, (head, tail) in zip(encoded, ids.tolist(), around, strict=True)
    ]
    assert 0 < sum(expected) < len(expected)
    tokenizer(["a", "a much longer text"], padding=True, truncation=True, max_length=3)
    assert decode(tokenizer, ids) == texts
    tokenizer(["a", "a much longer text"], padding=True, truncation=True, max_length=3)
    assert encode_prompts(tokenizer, prompts) == encoded
    assert keeps_its_tokens(tokenizer, context, around, texts, ids).tolist() == expected


def test_a_swap_that_merges_with_the_text_before_is_dropped(tokenizer):
    """A token that reads alone as itself but merges with the word before the slot fails the
    prompt check: the victim would read other tokens."""
    context = [("User password: apple", "")]
    around = [(tokenizer(context[0][0])["input_ids"], [])]
    merging = tokenizer("le", add_special_tokens=False)["input_ids"]  # " apple" + "le" re-splits
    alone = tokenizer(decode(tokenizer, [merging])[0], add_special_tokens=False)["input_ids"]
    assert alone == merging
    spaced = tokenizer(" x", add_special_tokens=False)["input_ids"]
    for ids, kept in ((merging, False), (spaced, True)):
        text = decode(tokenizer, [ids])
        assert keeps_its_tokens(tokenizer, context, around, text, torch.tensor([ids])) == [kept]


def test_a_tokenizer_with_its_own_python_steps_keeps_the_transformers_path(tokenizer):
    """A class that wraps the backend in Python (as CodeLlama's does) is not bypassed."""

    class Wrapped(type(tokenizer)):
        def _decode(self, *args, **kwargs):
            return super()._decode(*args, **kwargs).replace("a", "b")

    wrapped = copy.copy(tokenizer)
    wrapped.__class__ = Wrapped
    ids = torch.tensor([tokenizer("a cat", add_special_tokens=False)["input_ids"]])
    assert _rust_backend(wrapped) is None
    assert decode(wrapped, ids) == ["b cbt"]
    assert encode_prompts(wrapped, ["a cat"]) == [ids[0].tolist()]


def test_same_seed_same_records_other_seed_other_records(model, tokenizer):
    _assert_same(_run(model, tokenizer), _run(model, tokenizer))
    other = _run(model, tokenizer, GCGOptions(top_k=24, n_candidates=12, seed=4))
    assert not other["attack_ids"].equals(_run(model, tokenizer)["attack_ids"])


def test_resume_equals_straight_through(model, tokenizer, tmp_path):
    attack = GCG(model, tokenizer, SMALL)
    first = attack.run(examples(3), CHUNK, n_iterations=2)
    saved = AttackFiles.checkpoint_in(tmp_path)
    saved.save(first.records, first.state)
    _, state = saved.load()
    second = attack.run(examples(3), CHUNK, n_iterations=2, state=state)
    straight = _run(model, tokenizer, its=4)
    _assert_same(pd.concat([first.records, second.records]), straight)


def test_resume_with_other_examples_fails(model, tokenizer):
    attack = GCG(model, tokenizer, SMALL)
    state = attack.run(examples(3), CHUNK, n_iterations=1).state
    with pytest.raises(ValueError, match="other examples or options"):
        attack.run(examples(2), CHUNK, n_iterations=1, state=state)


def test_batched_equals_one_example_at_a_time(model, tokenizer):
    batched = _run(model, tokenizer, n=4, its=3, example_ids=[10, 11, 12, 13])
    alone = pd.concat(
        GCG(model, tokenizer, SMALL).run([e], CHUNK, n_iterations=3, example_ids=[10 + i]).records
        for i, e in enumerate(examples(4))
    ).sort_values(["iteration", "example_id"])
    _assert_same(alone, batched, exact=False)


@pytest.mark.parametrize("arch", ["gpt_neox", "qwen2"])
def test_kv_cached_equals_uncached(tokenizer, arch):
    model = tiny_classifier(tokenizer, arch)
    uncached = GCGOptions(top_k=24, n_candidates=12, seed=3, use_kv_cache=False)
    for placement in (CHUNK, Placement(position=0.0)):
        _assert_same(
            GCG(model, tokenizer, SMALL).run(examples(3), placement, n_iterations=3).records,
            GCG(model, tokenizer, uncached).run(examples(3), placement, n_iterations=3).records,
            exact=False,
        )


def test_special_tokens_are_never_candidates(model, tokenizer):
    """With the whole vocabulary in the pool, only the special-token mask keeps eos out."""
    config = GCGOptions(top_k=len(tokenizer), n_candidates=4000, n_attack_tokens=4)
    attack = GCG(model, tokenizer, config)
    seen = []
    score = attack.scorer.score

    def spy(layout, attack_ids, *args):
        seen.append(attack_ids)
        return score(layout, attack_ids, *args)

    attack.scorer.score = spy
    attack.run(examples(2), CHUNK, n_iterations=2)
    scored = torch.cat([s.flatten() for s in seen[1:]])  # seen[0]: the clean prompts
    assert len(scored) > 1000
    assert not set(scored.tolist()) & set(tokenizer.all_special_ids)


def test_target_string_gcg_on_a_causal_lm(tokenizer):
    lm = tiny_causal_lm(tokenizer)
    records = (
        GCG(lm, tokenizer, SMALL).run(examples(2), Placement(position=1.0), n_iterations=3).records
    )
    assert (records["predicted_label"] == -1).all()
    assert records.groupby("iteration")["loss"].mean().is_monotonic_decreasing


def test_gcg_may_place_added_tokens_and_random_token_draws_the_base_vocabulary(tokenizer):
    """Pythia's tokenizer adds non-special tokens (runs of spaces) after its base vocabulary
    and pads the embedding matrix past them: GCG's pool holds the added tokens, as the paper's
    did; RandomToken draws from ``[0, vocab_size)``; nobody places a padding row or eos."""
    from robustness_scaling.attacks import RandomToken

    wide = copy.deepcopy(tokenizer)
    wide.add_tokens(["  ", "    "])
    model = tiny_classifier(wide)
    model.resize_token_embeddings(len(wide) + 6)  # padding rows, as Pythia's 50304
    gcg, random_token = GCG(model, wide, SMALL), RandomToken(model, wide)
    added = [len(wide) - 2, len(wide) - 1]
    assert gcg.allowed[added].all() and not random_token.allowed[added].any()
    for allowed in (gcg.allowed, random_token.allowed):
        assert len(allowed) == len(wide) + 6 and not allowed[len(wide) :].any()
        assert not allowed[wide.all_special_ids].any()


def _limited_to(body: torch.nn.Module, most_rows: int, monkeypatch) -> None:
    """A device on which a pass of more than ``most_rows`` rows runs out of memory."""
    forward = body.forward

    def limited(*args, **kwargs):
        tokens = kwargs.get("inputs_embeds")
        tokens = kwargs["input_ids"] if tokens is None else tokens
        if tokens.shape[0] > most_rows:
            raise torch.OutOfMemoryError(f"fake device: more than {most_rows} rows")
        return forward(*args, **kwargs)

    monkeypatch.setattr(body, "forward", limited)


def test_out_of_memory_halves_the_batch_and_changes_no_record(
    model, tokenizer, monkeypatch, caplog
):
    """Scoring, the gradient pass and the prefix cache all shrink their batches on a device
    that cannot hold them; the records are those of a run at that batch size from the start,
    and of the full batch up to float rounding."""
    small = GCG(model, tokenizer, GCGOptions(top_k=24, n_candidates=12, seed=3, batch_size=3))
    reference = small.run(examples(6), CHUNK, n_iterations=3).records
    full = _run(model, tokenizer, GCGOptions(top_k=24, n_candidates=12, seed=3), n=6)

    attack = GCG(model, tokenizer, GCGOptions(top_k=24, n_candidates=12, seed=3, batch_size=64))
    _limited_to(attack.scorer.body, 4, monkeypatch)
    with caplog.at_level("WARNING", logger="robustness_scaling.attacks"):
        records = attack.run(examples(6), CHUNK, n_iterations=3).records
    assert attack.scorer.batch_size == 3  # half the 6 rows that failed, kept for the job
    assert "out of memory with 6 rows per pass: retrying with 3" in caplog.text
    _assert_same(records, reference)
    _assert_same(records, full, exact=False)


def test_out_of_memory_with_one_row_is_the_error_it_is(model, tokenizer, monkeypatch):
    attack = GCG(model, tokenizer, SMALL)
    _limited_to(attack.scorer.body, 0, monkeypatch)
    with pytest.raises(torch.OutOfMemoryError, match="more than 0 rows"):
        attack.run(examples(2), CHUNK, n_iterations=1)
