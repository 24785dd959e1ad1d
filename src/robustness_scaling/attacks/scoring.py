"""Batched scoring of attack candidates: the hot path every attack shares.

A prompt is ``before + attack + after (+ target)``. Every attack tries many token sequences in
the attack slot of many examples, so this module scores ``B`` (example, candidate) rows in one
forward pass and does as little work per row as it can:

- the key/value states of ``before`` are computed once per run and reused by every pass
  (the *prefix cache*);
- a candidate that differs from the current attack only from attack position ``p`` on reuses the
  current attack's key/value states for positions ``< p`` (GCG's single-token swaps), so its
  pass starts at ``p``;
- only the hidden states the loss reads go through the head: the last real token for a
  classifier (which reads its last non-pad token) and the target positions for a target string.

Attacks whose text the victim receives re-tokenized (RandomToken, BEAST) score whole prompts
(:meth:`Scorer.score_prompts`): a prompt whose tokens start with the cached ``before`` ids reuses
the prefix cache, any other is scored from its first token.

Rows are right-padded (:func:`~robustness_scaling.attacks.query_plan.query_plan` says where each
position reads from); a 2-D attention mask hides padding and the cache positions a row must not
see, and position ids continue each row's own prompt, so a row's result does not depend on what
else is in the batch (up to float rounding). Shapes are worked out on the host from lengths known
there, so a pass never waits on the device.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from robustness_scaling.attacks.query_plan import QueryPlan, query_plan
from robustness_scaling.attacks.shared_attention import Shared, shared_prefix

LOG = logging.getLogger("robustness_scaling.attacks")

KV = list[tuple[Tensor, Tensor]]
T = TypeVar("T")


@dataclass(frozen=True)
class Layout:
    """Token ids around the attack slot of ``E`` examples, padded for batched passes.

    ``suffix`` is ``after`` followed by the target string (empty for classifiers); the loss of
    a target string reads the ``target_len`` positions that start ``after_len`` into the suffix.
    ``before_ids`` and ``after_ids`` are the same ids on the host, unpadded, for comparing them
    with whole-prompt encodings.
    """

    before: Tensor
    before_len: np.ndarray
    suffix: Tensor
    suffix_len: np.ndarray
    after_len: np.ndarray
    target: Tensor
    target_len: np.ndarray
    proxy_label: Tensor
    clf_label: Tensor
    prefix_cache: KV | None
    before_ids: list[list[int]]
    after_ids: list[list[int]]

    @property
    def n_examples(self) -> int:
        return len(self.before_len)

    @property
    def context_ids(self) -> list[tuple[list[int], list[int]]]:
        """Each example's (before, after) ids: what its prompt must read around the attack."""
        return list(zip(self.before_ids, self.after_ids, strict=True))

    def prompt_len(self, n_attack: int) -> np.ndarray:
        """Tokens in each full prompt with ``n_attack`` attack tokens: the T of docs/method.md
        "Compute"."""
        return self.before_len + n_attack + self.suffix_len


@dataclass(frozen=True)
class Scores:
    """What one scoring pass says about each row, all on the model's device."""

    loss: Tensor
    predicted_label: Tensor
    success: Tensor

    def take(self, index: Tensor) -> Scores:
        """The rows at ``index``."""
        return Scores(self.loss[index], self.predicted_label[index], self.success[index])

    @staticmethod
    def concat(parts: Sequence[Scores]) -> Scores:
        return Scores(*(torch.cat([getattr(p, f) for p in parts]) for f in _FIELDS))

    @staticmethod
    def where(condition: Tensor, a: Scores, b: Scores) -> Scores:
        """Row-wise ``a`` where ``condition`` holds, else ``b``."""
        return Scores(*(torch.where(condition, getattr(a, f), getattr(b, f)) for f in _FIELDS))


_FIELDS = ("loss", "predicted_label", "success")


def _pad(rows: Sequence[Sequence[int]], fill: int, device: torch.device) -> Tensor:
    width = max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), width), fill, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out.to(device)


def _labels(labels: Sequence[int] | None, n: int, device: torch.device) -> Tensor:
    return torch.tensor(
        [0] * n if labels is None else list(labels), dtype=torch.long, device=device
    )


def _encode(tokenizer: PreTrainedTokenizerBase, texts: list[str], special: bool) -> list[list[int]]:
    if not texts:
        return []
    return tokenizer(texts, add_special_tokens=special)["input_ids"]


class Scorer:
    """Scores token sequences in the attack slot of a model's prompts.

    A classifier (a model with a ``score`` head, e.g. ``GPTNeoXForSequenceClassification``)
    is scored by the cross-entropy of its logits toward each example's proxy label; success means
    it predicts a label other than the true one. A causal LM is scored by the mean negative log
    likelihood of the target string; success means greedy decoding would produce the target.

    ``batch_size`` is the most rows of one pass. A pass that runs out of device memory halves
    it, for the rest of the scorer's life (the job), and retries the same rows: a row's result
    does not depend on what else is in its batch, so the records do not depend on it.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        batch_size: int = 512,
        use_kv_cache: bool = True,
    ) -> None:
        if tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer needs a pad token (the study sets pad = eos)")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.use_kv_cache = use_kv_cache
        self.body = model.base_model
        self.embed = model.get_input_embeddings()
        self.is_classifier = hasattr(model, "score")
        self.head = model.score if self.is_classifier else model.get_output_embeddings()
        if self.head is None:
            raise ValueError(
                f"{type(model).__name__} has neither a classification `score` head nor an LM head"
            )
        self.n_params = model.num_parameters()
        self.device = self.embed.weight.device
        # transformers renamed `past_key_values` to `cache`; accept whichever this version has.
        params = inspect.signature(self.body.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"

    def _in_batches(self, n_rows: int, run: Callable[[int, int], T]) -> list[T]:
        """``run(lo, hi)`` over rows ``[0, n_rows)`` in batches of at most ``batch_size``; an
        out-of-memory error halves the batch size (kept for later passes) and retries."""
        parts, lo = [], 0
        while lo < n_rows:
            hi = min(lo + self.batch_size, n_rows)
            try:
                parts.append(run(lo, hi))
            except torch.OutOfMemoryError:
                if self.batch_size == 1:
                    raise
                self.batch_size = max(1, (hi - lo) // 2)
                LOG.warning(
                    "out of memory with %d rows per pass: retrying with %d (attack option "
                    "batch_size sets the start)",
                    hi - lo,
                    self.batch_size,
                )
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            lo = hi
        return parts

    @property
    def vocab_rows(self) -> int:
        """Rows of the embedding matrix: the width of a one-hot token gradient."""
        return self.embed.weight.shape[0]

    def layout(
        self,
        before: list[str],
        after: list[str],
        proxy_label: Sequence[int] | None = None,
        clf_label: Sequence[int] | None = None,
        targets: list[str] | None = None,
        cache: bool = True,
        empty_before_id: int | None = None,
    ) -> Layout:
        """Tokenize the text around the attack slot and, if caching, run the ``before`` part.

        Each part is tokenized on its own, as GCG implementations do, so attack tokens stay
        token-aligned. ``targets`` are read only by a causal-LM victim. ``cache=False`` skips the
        prefix cache (for a one-off pass over whole prompts). Labels default to 0 for layouts
        that never compute a classification loss (a sampler's). ``empty_before_id`` stands in for
        an empty ``before``: a sampler LM needs something to condition on.
        """
        before_ids = _encode(self.tokenizer, before, special=True)
        if empty_before_id is not None:
            before_ids = [ids or [empty_before_id] for ids in before_ids]
        after_ids = _encode(self.tokenizer, after, special=False)
        if self.is_classifier or targets is None:
            target_ids = [[] for _ in before_ids]
        else:
            target_ids = _encode(self.tokenizer, targets, special=False)
        suffix_ids = [a + t for a, t in zip(after_ids, target_ids, strict=True)]
        pad = self.tokenizer.pad_token_id
        lengths = [
            np.array([len(r) for r in rows], dtype=np.int64)
            for rows in (before_ids, suffix_ids, after_ids, target_ids)
        ]
        layout = Layout(
            before=_pad(before_ids, pad, self.device),
            before_len=lengths[0],
            suffix=_pad(suffix_ids, pad, self.device),
            suffix_len=lengths[1],
            after_len=lengths[2],
            target=_pad(target_ids, pad, self.device),
            target_len=lengths[3],
            proxy_label=_labels(proxy_label, len(before), self.device),
            clf_label=_labels(clf_label, len(before), self.device),
            prefix_cache=None,
            before_ids=before_ids,
            after_ids=after_ids,
        )
        if cache and self.use_kv_cache and layout.before.shape[1] > 0:
            layout = _with_prefix_cache(layout, self._prefix_cache(layout.before))
        return layout

    @torch.no_grad()
    def _prefix_cache(self, before: Tensor) -> KV:
        """Key/value states of the right-padded ``before`` ids.

        No padding mask is needed: with right padding and causal attention, pad positions never
        influence real ones, and later passes mask the pad keys out.
        """

        def run(lo: int, hi: int) -> KV:
            cache = DynamicCache(config=self.model.config)
            self.body(input_ids=before[lo:hi], use_cache=True, **{self._cache_kwarg: cache})
            return [(layer.keys, layer.values) for layer in cache.layers]

        parts = self._in_batches(before.shape[0], run)
        return [
            (torch.cat([p[i][0] for p in parts]), torch.cat([p[i][1] for p in parts]))
            for i in range(len(parts[0]))
        ]

    def _hidden(
        self,
        layout: Layout,
        attack_embeds: Tensor,
        rows: np.ndarray,
        start: np.ndarray,
        attack_cache: KV | None,
        keep_cache: bool = False,
        attack_len: np.ndarray | None = None,
    ) -> tuple[Tensor, np.ndarray, np.ndarray, DynamicCache | None]:
        """Run the body over each row's query: ``attack[start:] + suffix`` after its caches.

        Without a prefix cache the query also holds ``before`` (then ``start`` must be 0).
        ``attack_len`` gives rows attacks of their own lengths, right-padded to the width of
        ``attack_embeds`` (default: all that width). Returns the hidden states, each row's query
        length, the query index where its attack part ends, and the cache (for the caller that
        wants the attack's key/value states).
        """
        cached = layout.prefix_cache is not None
        plan = query_plan(
            layout.before_len[rows],
            layout.suffix_len[rows],
            before_width=layout.before.shape[1],
            attack_width=attack_embeds.shape[1],
            suffix_width=layout.suffix.shape[1],
            start=start,
            attack_len=attack_len,
            prefix_cached=cached,
            attack_cached=attack_cache is not None,
        )
        dev = self.device
        rows_t = torch.as_tensor(rows, device=dev)
        parts = [] if cached else [self.embed(layout.before[rows_t])]
        parts += [attack_embeds, self.embed(layout.suffix[rows_t])]
        src = torch.cat(parts, dim=1)
        index = torch.as_tensor(plan.source_index, device=dev)[..., None]
        index = index.expand(-1, -1, src.shape[-1])
        inputs = src.gather(1, index)
        stores = ([layout.prefix_cache] if cached else []) + (
            [attack_cache] if attack_cache is not None else []
        )
        if stores and not keep_cache:
            return (
                self._shared_pass(stores, inputs, rows_t, plan),
                plan.query_len,
                plan.attack_end,
                None,
            )
        cache = None
        if stores:
            layers = [
                tuple(torch.cat([s[i][j][rows_t] for s in stores], dim=2) for j in (0, 1))
                for i in range(len(stores[0]))
            ]
            cache = DynamicCache(ddp_cache_data=layers, config=self.model.config)
        elif keep_cache:
            cache = DynamicCache(config=self.model.config)
        out = self.body(
            inputs_embeds=inputs,
            attention_mask=torch.as_tensor(plan.mask, device=dev),
            position_ids=torch.as_tensor(plan.position, device=dev),
            use_cache=cache is not None,
            **{self._cache_kwarg: cache},
        )
        return out.last_hidden_state, plan.query_len, plan.attack_end, cache

    def _shared_pass(
        self, stores: list[KV], inputs: Tensor, rows: Tensor, plan: QueryPlan
    ) -> Tensor:
        """The body over rows whose cached part (prefix, current attack) is their example's:
        kept one per example (:mod:`~robustness_scaling.attacks.shared_attention`), not copied
        per row."""
        dev = self.device
        width = inputs.shape[1]
        mask = torch.as_tensor(plan.mask, device=dev)
        causal = torch.ones(width, width, dtype=torch.bool, device=dev).tril()
        if len(stores) == 1:  # the prefix alone: used where it is, nothing is copied
            keys = [layer[0] for layer in stores[0]]
            values = [layer[1] for layer in stores[0]]
            example = rows
        else:  # prefix and current attack, joined for the batch's examples only
            batch_examples, example = torch.unique(rows, return_inverse=True)
            keys, values = (
                [
                    torch.cat([s[i][j][batch_examples] for s in stores], dim=2)
                    for i in range(len(stores[0]))
                ]
                for j in (0, 1)
            )
        shared = Shared(keys=keys, values=values, example=example, visible=mask[:, :-width])
        with shared_prefix(self.model, shared):
            out = self.body(
                inputs_embeds=inputs,
                attention_mask=causal[None, None] & mask[:, None, None, -width:],
                position_ids=torch.as_tensor(plan.position, device=dev),
                use_cache=False,
            )
        return out.last_hidden_state

    def _objective(
        self,
        layout: Layout,
        hidden: Tensor,
        rows: np.ndarray,
        query_len: np.ndarray,
        attack_end: np.ndarray,
    ) -> Scores:
        """Read only the positions the loss needs and score them."""
        dev = self.device
        rows_t = torch.as_tensor(rows, device=dev)
        batch = torch.arange(len(rows), device=dev)
        if self.is_classifier:
            last = torch.as_tensor(query_len - 1, device=dev)
            logits = _at_least_fp32(self.head(hidden[batch, last]))
            labels = layout.proxy_label[rows_t]
            loss = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
            predicted = logits.argmax(-1)
            return Scores(loss, predicted, predicted != layout.clf_label[rows_t])
        target_len = layout.target_len[rows]
        width = int(target_len.max())
        j = np.arange(width)[None, :]
        read = attack_end[:, None] + layout.after_len[rows][:, None] + j - 1
        read = np.where(j < target_len[:, None], read, (query_len - 1)[:, None])
        read_t = torch.as_tensor(read, device=dev)
        logits = _at_least_fp32(self.head(hidden[batch[:, None], read_t]))
        target = layout.target[rows_t][:, :width]
        valid = torch.as_tensor(j < target_len[:, None], device=dev)
        # Flattened to (rows, vocab): the class-dim-in-the-middle form is over 2x slower on CPU.
        nll = (
            torch.nn.functional.cross_entropy(
                logits.flatten(0, 1), target.flatten(), reduction="none"
            )
            .view_as(target)
            .masked_fill(~valid, 0.0)
        )
        loss = nll.sum(1) / torch.as_tensor(target_len, device=dev, dtype=nll.dtype)
        greedy = (logits.argmax(-1) == target) | ~valid
        predicted = torch.full_like(rows_t, -1)
        return Scores(loss, predicted, greedy.all(1))

    @torch.no_grad()
    def score(
        self,
        layout: Layout,
        attack_ids: Tensor,
        rows: np.ndarray,
        start: np.ndarray | None = None,
        attack_cache: KV | None = None,
        attack_len: np.ndarray | None = None,
    ) -> Scores:
        """Score ``B`` rows: row ``b`` puts ``attack_ids[b]`` in example ``rows[b]``'s slot.

        With ``attack_cache`` (the current attack's key/values, one per example) and ``start``,
        row ``b`` only recomputes from attack position ``start[b]``: the positions before it must
        equal the current attack. ``attack_len`` gives rows attacks of their own lengths (right-
        padded in ``attack_ids``). Rows are sorted by length and chunked so padding stays small.
        """
        n_rows = len(rows)
        if n_rows == 0:
            raise ValueError("nothing to score")
        if start is None or attack_cache is None:
            start = np.zeros(n_rows, dtype=np.int64)
        cached = layout.prefix_cache is not None
        head = np.zeros(n_rows, dtype=np.int64) if cached else layout.before_len[rows]
        n_attack = attack_ids.shape[1] if attack_len is None else attack_len
        length = head + n_attack - start + layout.suffix_len[rows]
        order = np.argsort(-length, kind="stable")

        def run(lo: int, hi: int) -> Scores:
            chunk = order[lo:hi]
            chunk_len = None if attack_len is None else attack_len[chunk]
            width = attack_ids.shape[1] if chunk_len is None else int(chunk_len.max())
            embeds = self.embed(attack_ids[torch.as_tensor(chunk, device=self.device), :width])
            hidden, query_len, attack_end, _ = self._hidden(
                layout, embeds, rows[chunk], start[chunk], attack_cache, attack_len=chunk_len
            )
            return self._objective(layout, hidden, rows[chunk], query_len, attack_end)

        parts = self._in_batches(n_rows, run)
        return Scores.concat(parts).take(torch.as_tensor(np.argsort(order), device=self.device))

    def score_prompts(
        self, layout: Layout, prompts: Sequence[Sequence[int]], rows: np.ndarray
    ) -> Scores:
        """Score whole prompts: row ``b`` is example ``rows[b]``'s prompt, tokenized whole.

        The loss reads the prompt as a clean prompt is read (a classifier's last token; a causal
        LM's target string after it). A prompt that starts with the example's ``before`` ids
        reuses the prefix cache and runs only the rest; any other (the attack text merged with
        the end of ``before``) runs from its first token, as does every prompt of a layout
        without a prefix cache.
        """
        before_len = layout.before_len[rows]
        cached = np.zeros(len(rows), dtype=bool)
        if layout.prefix_cache is not None:
            cached = np.fromiter(
                (
                    len(p) > n and list(p[:n]) == layout.before_ids[r]
                    for p, n, r in zip(prompts, before_len, rows, strict=True)
                ),
                bool,
                len(rows),
            )
        parts, index = [], []
        for use_cache in (True, False):
            chosen = np.flatnonzero(cached == use_cache)
            if len(chosen) == 0:
                continue
            tails = [list(prompts[b][before_len[b] if use_cache else 0 :]) for b in chosen]
            parts.append(
                self.score(
                    _whole_prompt_layout(layout, keep_prefix=use_cache),
                    _pad(tails, self.tokenizer.pad_token_id, self.device),
                    rows[chosen],
                    attack_len=np.array([len(t) for t in tails], dtype=np.int64),
                )
            )
            index.append(chosen)
        order = np.argsort(np.concatenate(index), kind="stable")
        return Scores.concat(parts).take(torch.as_tensor(order, device=self.device))

    def _can_share_attack(self, layout: Layout) -> bool:
        """Whether the attack's key/value states can be cached: they follow ``before`` there."""
        return self.use_kv_cache and (
            layout.prefix_cache is not None or layout.before.shape[1] == 0
        )

    def loss_gradient(self, layout: Layout, attack_ids: Tensor) -> tuple[Tensor, Scores, KV | None]:
        """Gradient of each example's loss w.r.t. a one-hot encoding of its attack tokens.

        Returns the gradient, shape ``(E, n, vocab_rows)``, the scores of ``attack_ids``, and
        (when caching) the attack tokens' key/value states, which candidate scoring reuses.
        The gradient of the one-hot input is the embedding gradient projected on the embedding
        matrix, so the forward pass can use an ordinary embedding lookup.
        """
        weight = self.embed.weight
        n_examples, n = attack_ids.shape

        def run(lo: int, hi: int) -> tuple[Tensor, Scores, KV | None]:
            rows = np.arange(lo, hi)
            embeds = self.embed(attack_ids[lo:hi]).detach().requires_grad_(True)
            with torch.enable_grad():
                hidden, query_len, attack_end, cache = self._hidden(
                    layout,
                    embeds,
                    rows,
                    np.zeros(len(rows), dtype=np.int64),
                    None,
                    keep_cache=self._can_share_attack(layout),
                )
                chunk = self._objective(layout, hidden, rows, query_len, attack_end)
                (grad,) = torch.autograd.grad(chunk.loss.sum(), embeds)
            scores = Scores(chunk.loss.detach(), chunk.predicted_label, chunk.success)
            if cache is None:
                return grad @ weight.detach().T, scores, None
            offset = layout.before.shape[1]
            kv = [  # copies, so the batch's whole cache is freed once this returns
                (
                    layer.keys[:, :, offset : offset + n].detach().clone(),
                    layer.values[:, :, offset : offset + n].detach().clone(),
                )
                for layer in cache.layers
            ]
            return grad @ weight.detach().T, scores, kv

        batches = self._in_batches(n_examples, run)
        grads = [grad for grad, _, _ in batches]
        scores = [chunk for _, chunk, _ in batches]
        caches = [kv for _, _, kv in batches if kv is not None]
        attack_cache = None
        if caches:
            attack_cache = [
                (torch.cat([c[i][0] for c in caches]), torch.cat([c[i][1] for c in caches]))
                for i in range(len(caches[0]))
            ]
        joined = Scores(
            *(
                torch.cat([getattr(c, f).detach() for c in scores])
                for f in ("loss", "predicted_label", "success")
            )
        )
        return torch.cat(grads), joined, attack_cache

    @torch.no_grad()
    def next_token_logits(self, layout: Layout, attack_ids: Tensor, rows: np.ndarray) -> Tensor:
        """Logits of the token after ``before + attack`` for each row (a sampler LM's proposal).

        The layout must have no ``after`` text. With an empty attack the query is the whole
        ``before`` (read uncached), since a cached prefix would leave nothing to run.
        """
        if attack_ids.shape[1] == 0 and layout.prefix_cache is not None:
            layout = _with_prefix_cache(layout, None)

        def run(lo: int, hi: int) -> Tensor:
            chunk = rows[lo:hi]
            embeds = self.embed(attack_ids[lo:hi])
            hidden, query_len, _, _ = self._hidden(
                layout, embeds, chunk, np.zeros(len(chunk), dtype=np.int64), None
            )
            last = torch.as_tensor(query_len - 1, device=self.device)
            return self.head(hidden[torch.arange(len(chunk), device=self.device), last])

        return _at_least_fp32(torch.cat(self._in_batches(len(rows), run)))


def _at_least_fp32(logits: Tensor) -> Tensor:
    """Losses of half-precision models are computed in fp32, as training does."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


def _with_prefix_cache(layout: Layout, cache: KV | None) -> Layout:
    return Layout(**{**layout.__dict__, "prefix_cache": cache})


def _whole_prompt_layout(layout: Layout, keep_prefix: bool) -> Layout:
    """``layout`` for rows whose attack slot holds the rest of a whole prompt: no ``after``
    (it is part of the prompt), only the target; with ``keep_prefix`` the prompt's first
    ``before_len`` tokens come from the prefix cache, else the slot holds the whole prompt."""
    fields = {
        **layout.__dict__,
        "suffix": layout.target,
        "suffix_len": layout.target_len,
        "after_len": np.zeros_like(layout.after_len),
    }
    if not keep_prefix:
        fields["before"] = layout.before[:, :0]
        fields["before_len"] = np.zeros_like(layout.before_len)
        fields["prefix_cache"] = None
    return Layout(**fields)
