"""The shared scoring path: it must equal plain forward passes of the whole prompt."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from attack_fixtures import examples, tiny_causal_lm, tiny_classifier

from robustness_scaling.attacks import build_attack, correctly_classified
from robustness_scaling.attacks.scoring import Scorer
from robustness_scaling.runtime import Runtime, mixed_precision
from robustness_scaling.tasks.base import Placement, attack_context, model_input

ATTACK = [[40, 41, 42, 43], [50, 51, 52, 53], [60, 61, 62, 63]]


pytestmark = pytest.mark.usefixtures("single_thread")


def _contexts(placement: Placement, n: int = 3) -> tuple[list[str], list[str]]:
    context = [attack_context(e, placement) for e in examples(n)]
    return [c[0] for c in context], [c[1] for c in context]


def _full_ids(tokenizer, before: str, attack: list[int], after: str, target: str = "") -> list:
    return (
        tokenizer(before)["input_ids"]
        + attack
        + tokenizer(after, add_special_tokens=False)["input_ids"]
        + tokenizer(target, add_special_tokens=False)["input_ids"]
    )


@pytest.mark.parametrize("arch", ["gpt_neox", "qwen2"])
@pytest.mark.parametrize("placement", [Placement(overwritable_chunk=1), Placement(position=0.0)])
def test_classifier_scores_equal_plain_forward(tokenizer, arch, placement):
    model = tiny_classifier(tokenizer, arch)
    before, after = _contexts(placement)
    labels = [e.proxy_clf_label for e in examples(3)]
    for use_kv_cache in (True, False):
        scorer = Scorer(model, tokenizer, batch_size=2, use_kv_cache=use_kv_cache)
        layout = scorer.layout(before, after, labels, [1 - x for x in labels])
        scores = scorer.score(layout, torch.tensor(ATTACK), np.arange(3))
        for i in range(3):
            ids = torch.tensor([_full_ids(tokenizer, before[i], ATTACK[i], after[i])])
            with torch.no_grad():
                logits = model(input_ids=ids).logits[0]
            expected = torch.nn.functional.cross_entropy(logits, torch.tensor(labels[i]))
            torch.testing.assert_close(scores.loss[i], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ["gpt_neox", "qwen2"])
def test_swaps_reusing_the_attack_cache_equal_uncached_scoring(tokenizer, arch):
    model = tiny_classifier(tokenizer, arch)
    before, after = _contexts(Placement(overwritable_chunk=1))
    cached = Scorer(model, tokenizer, batch_size=4)
    uncached = Scorer(model, tokenizer, batch_size=4, use_kv_cache=False)
    current = torch.tensor(ATTACK)
    layout = cached.layout(before, after, [1, 0, 1], [0, 1, 0])
    _, _, attack_cache = cached.loss_gradient(layout, current)
    rows = np.array([0, 0, 1, 2, 2, 2])
    start = np.array([0, 3, 1, 2, 0, 3])
    swapped = current[rows].clone()
    swapped[np.arange(6), start] = torch.tensor([70, 71, 72, 73, 74, 75])
    fast = cached.score(layout, swapped, rows, start, attack_cache)
    slow = uncached.score(uncached.layout(before, after, [1, 0, 1], [0, 1, 0]), swapped, rows)
    torch.testing.assert_close(fast.loss, slow.loss, atol=1e-5, rtol=1e-5)
    assert torch.equal(fast.predicted_label, slow.predicted_label)


def test_the_shared_prefix_pass_runs_in_bfloat16_autocast(tokenizer):
    """Mixed precision (the default on fast-bfloat16 machines) through the shared-prefix
    attention: the losses stay those of the uncached pass, to bfloat16's precision."""
    model = tiny_classifier(tokenizer, "qwen2")
    before, after = _contexts(Placement(overwritable_chunk=1))
    runtime = Runtime.resolve(device="cpu", autocast="bfloat16")
    with mixed_precision(runtime):
        cached = Scorer(model, tokenizer, batch_size=4)
        layout = cached.layout(before, after, [1, 0, 1], [0, 1, 0])
        _, _, attack_cache = cached.loss_gradient(layout, torch.tensor(ATTACK))
        rows, start = np.array([0, 1, 2, 2]), np.array([1, 2, 0, 3])
        swapped = torch.tensor(ATTACK)[rows].clone()
        swapped[np.arange(4), start] = torch.tensor([70, 71, 72, 73])
        fast = cached.score(layout, swapped, rows, start, attack_cache)
        uncached = Scorer(model, tokenizer, batch_size=4, use_kv_cache=False)
        slow = uncached.score(uncached.layout(before, after, [1, 0, 1], [0, 1, 0]), swapped, rows)
    assert fast.loss.dtype == torch.float32
    torch.testing.assert_close(fast.loss, slow.loss, atol=3e-2, rtol=3e-2)


def test_target_loss_is_mean_token_nll(tokenizer):
    model = tiny_causal_lm(tokenizer)
    before, after = _contexts(Placement(position=1.0))
    targets = [" Sure, here", " GRANTED", " x x x"]
    for use_kv_cache in (True, False):
        scorer = Scorer(model, tokenizer, use_kv_cache=use_kv_cache)
        layout = scorer.layout(before, after, targets=targets)
        scores = scorer.score(layout, torch.tensor(ATTACK), np.arange(3))
        for i in range(3):
            prompt = _full_ids(tokenizer, before[i], ATTACK[i], after[i])
            target = tokenizer(targets[i], add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([prompt + target])).logits[0]
            log_p = logits.log_softmax(-1)
            nll = [-log_p[len(prompt) + j - 1, t] for j, t in enumerate(target)]
            torch.testing.assert_close(
                scores.loss[i], torch.stack(nll).mean(), atol=1e-5, rtol=1e-5
            )


def test_target_gradient_matches_finite_one_hot_direction(tokenizer):
    """The one-hot gradient predicts the loss change of a tiny step toward another token."""
    model = tiny_causal_lm(tokenizer).double()
    before, after = _contexts(Placement(position=1.0), 1)
    scorer = Scorer(model, tokenizer, use_kv_cache=True)
    layout = scorer.layout(before, after, targets=[" Sure, here"])
    attack = torch.tensor(ATTACK[:1])
    grad, scores, _ = scorer.loss_gradient(layout, attack)
    weight = model.get_input_embeddings().weight
    step = 1e-6 * (weight[77] - weight[attack[0, 2]])
    embeds = model.get_input_embeddings()(attack).detach()
    embeds[0, 2] += step
    hidden, query_len, attack_end, _ = scorer._hidden(
        layout, embeds, np.array([0]), np.array([0]), None
    )
    moved = scorer._objective(layout, hidden, np.array([0]), query_len, attack_end).loss
    predicted = 1e-6 * (grad[0, 2, 77] - grad[0, 2, attack[0, 2]])
    torch.testing.assert_close(moved - scores.loss, predicted[None], atol=1e-9, rtol=1e-3)


def test_correctly_classified_agrees_with_the_model(tokenizer):
    model = tiny_classifier(tokenizer)
    data = examples(8)
    keep = correctly_classified(model, tokenizer, data)
    texts = [model_input(e) for e in data]
    with torch.no_grad():
        batch = tokenizer(texts, return_tensors="pt", padding=True)
        predicted = model(**batch).logits.argmax(-1).tolist()
    assert keep == [i for i, e in enumerate(data) if predicted[i] == e.clf_label]


def test_build_attack_rejects_unknown_names_and_options(tokenizer):
    model = tiny_classifier(tokenizer)
    with pytest.raises(ValueError, match="unknown attack 'pgd'"):
        build_attack("pgd", model, tokenizer)
    with pytest.raises(ValueError, match="unknown gcg options"):
        build_attack("gcg", model, tokenizer, {"topk": 3})
    with pytest.raises(ValueError, match="needs a sampler"):
        build_attack("beast", model, tokenizer)
    assert build_attack("gcg", model, tokenizer, {"top_k": 3}).options.top_k == 3
