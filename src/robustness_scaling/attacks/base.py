"""What every attack shares: the run loop and its per-iteration records.

An attack is built from a victim model, its tokenizer and its options dataclass, then
:meth:`Attack.run` attacks many examples at once for ``n_iterations`` and returns one record per
example and iteration plus an :class:`~robustness_scaling.attacks.state.AttackState`. Passing
that state to a later ``run`` continues the attack; the records are those of one run straight
through (docs/method.md "Attacks": no early stop, so a budget of c iterations is a prefix of any
larger budget).

Iteration 0 is the clean prompt, tokenized whole as the victim normally reads it, so examples
kept by :func:`~robustness_scaling.attacks.clean.correctly_classified` have ASR 0 there. Every
later record is true of the text it stores: its loss, label and success are those of ``before +
attack_text + after`` tokenized whole, as the victim receives it (RandomToken and BEAST score
that prompt; GCG keeps only candidates whose prompt reads as its tokens). A generative victim
given a :class:`~robustness_scaling.generative.answers.GenerationCheck` is judged on what it
writes: every record's success comes from a greedy continuation of the attacked prompt, which
the record keeps (``generation``); its FLOPs are counted apart (``judge_flops``), since they
measure success and are not part of the attack's search (``flops``). Judging can be limited to
some iterations (``judge_at``): the others' success is then unknown (NA), not guessed. Every
random draw comes from a CPU ``torch.Generator`` seeded by (options seed, example id): a batched
run and one-example runs draw the same numbers, on any device.
"""

from __future__ import annotations

import copy
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from robustness_scaling.attack_options import AttackOptions
from robustness_scaling.attacks.clean import clean_scores
from robustness_scaling.attacks.scoring import Layout, Scorer, Scores
from robustness_scaling.attacks.state import RECORD_COLUMNS, AttackResult, AttackState
from robustness_scaling.attacks.tokens import allowed_tokens, encode_prompts
from robustness_scaling.tasks.base import Example, Placement, attack_context

if TYPE_CHECKING:
    from robustness_scaling.generative.answers import GenerationCheck
    from robustness_scaling.generative.judges import Verdicts


@dataclass
class Steps:
    """Per-iteration outcomes of one ``run`` call, ``(E, n_iterations)`` each.

    Loss, label and success stay on the device until the run ends, so the hot loop never
    waits for them. ``judged`` says, per iteration, whether success was decided (always, but on
    a judged victim's iterations outside ``judge_at``).
    """

    loss: list[Tensor] = field(default_factory=list)
    predicted: list[Tensor] = field(default_factory=list)
    success: list[Tensor] = field(default_factory=list)
    ids: list[list[list[int]]] = field(default_factory=list)
    text: list[list[str]] = field(default_factory=list)
    generation: list[list[str]] = field(default_factory=list)
    flops: list[np.ndarray] = field(default_factory=list)
    judge_flops: list[np.ndarray] = field(default_factory=list)
    judged: list[bool] = field(default_factory=list)

    def add(
        self, verdict: Judged, ids: list[list[int]], text: list[str], flops: np.ndarray
    ) -> None:
        """One iteration: each example's verdict (scores, answer, judge FLOPs), attack ids and
        text, and the FLOPs of the attack's search."""
        scores = verdict.scores
        self.loss.append(scores.loss)
        self.predicted.append(scores.predicted_label)
        self.success.append(scores.success)
        self.ids.append(ids)
        self.text.append(text)
        self.flops.append(flops)
        self.generation.append(verdict.generations)
        self.judge_flops.append(verdict.flops)
        self.judged.append(verdict.judged)


@dataclass(frozen=True)
class RunInputs:
    """The examples of one ``run`` call, the text around each one's attack slot, and the
    iterations whose success a judge decides (None: every one)."""

    examples: Sequence[Example]
    context: list[tuple[str, str]]
    judge_at: frozenset[int] | None = None


@dataclass(frozen=True)
class Judged:
    """Scores whose success (and label) a judge decided, with the generations and their FLOPs;
    ``judged`` False: nobody decided (success unknown, no generation)."""

    scores: Scores
    generations: list[str]
    flops: np.ndarray
    judged: bool = True

    @staticmethod
    def unjudged(scores: Scores) -> Judged:
        n = len(scores.loss)
        return Judged(
            Scores(scores.loss, torch.full_like(scores.predicted_label, -1), scores.success),
            [""] * n,
            np.zeros(n, dtype=np.int64),
            judged=False,
        )


def judged_scores(scores: Scores, verdicts: Verdicts, examples: Sequence[Example]) -> Scores:
    """``scores`` with success from the judge and the label it implies: the proxy label when the
    attack succeeded, the true label when the model answered as intended, else -1."""
    dev = scores.loss.device
    success = torch.as_tensor(verdicts.success, device=dev)
    correct = torch.as_tensor(verdicts.correct, device=dev)
    proxy = torch.tensor([e.proxy_clf_label for e in examples], device=dev)
    true = torch.tensor([e.clf_label for e in examples], device=dev)
    predicted = torch.where(success, proxy, torch.where(correct, true, -1))
    return Scores(scores.loss, predicted, success)


def example_generator(seed: int, example_id: int) -> torch.Generator:
    """A CPU generator that depends only on (seed, example id)."""
    state = np.random.SeedSequence([seed, example_id]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class Attack(ABC):
    """An attack on a victim: subclasses implement :meth:`_start` and :meth:`_advance`."""

    name: ClassVar[str]

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        options: AttackOptions,
        check: GenerationCheck | None = None,
    ) -> None:
        self.options = options
        self.tokenizer = tokenizer
        self.scorer = Scorer(model, tokenizer, options.batch_size, options.use_kv_cache)
        self.allowed = allowed_tokens(tokenizer, self.scorer.vocab_rows)
        if check is not None and self.scorer.is_classifier:
            raise ValueError("a generation check needs a causal LM victim, not a classifier")
        self.check = check

    def _judges(self, inputs: RunInputs, iteration: int) -> bool:
        """Whether success is decided at ``iteration``: always for a classifier (its
        prediction), at the run's ``judge_at`` iterations for a judged victim."""
        return self.check is None or inputs.judge_at is None or iteration in inputs.judge_at

    def _verdict(
        self, inputs: RunInputs, rows: np.ndarray, texts: Sequence[str], scores: Scores
    ) -> Judged:
        """Success of each row (example ``rows[b]`` with attack text ``texts[b]``).

        A classifier's success is its prediction, already in ``scores``. A generative victim
        with a check writes a greedy answer to ``before + text + after``, tokenized whole as it
        would be sent, and the judge decides. The judge reads the clean prompt with the answer
        (as the StrongREJECT autograder grades a response against the forbidden prompt), so the
        attack text cannot steer an LLM judge too.
        """
        if self.check is None:
            return Judged(scores, [""] * len(rows), np.zeros(len(rows), dtype=np.int64))
        examples = [inputs.examples[r] for r in rows]
        around = [inputs.context[r] for r in rows]
        verdicts, generations = self.check.run(
            self.scorer.model,
            self.tokenizer,
            examples,
            [before + t + after for (before, after), t in zip(around, texts, strict=True)],
            judged_prompts=[before + after for before, after in around],
        )
        return Judged(
            judged_scores(scores, verdicts, examples), generations.texts, generations.flops
        )

    def _score_texts(
        self, layout: Layout, inputs: RunInputs, rows: np.ndarray, texts: Sequence[str]
    ) -> tuple[Scores, np.ndarray]:
        """Scores of each row's prompt ``before + texts[b] + after`` of example ``rows[b]``,
        tokenized whole, and the tokens each pass reads (prompt and target: the T of its FLOPs).

        Encoded and scored a few batches at a time, so a RandomToken call over thousands of
        draws never holds all their prompts' ids at once.
        """
        step = 8 * self.scorer.batch_size
        parts, tokens = [], np.zeros(len(rows), dtype=np.int64)
        for lo in range(0, len(rows), step):
            chunk = rows[lo : lo + step]
            prompts = encode_prompts(
                self.tokenizer,
                [
                    inputs.context[r][0] + t + inputs.context[r][1]
                    for r, t in zip(chunk, texts[lo : lo + step], strict=True)
                ],
            )
            parts.append(self.scorer.score_prompts(layout, prompts, chunk))
            tokens[lo : lo + len(chunk)] = [len(p) for p in prompts]
        return Scores.concat(parts), tokens + layout.target_len[rows]

    def run(
        self,
        examples: Sequence[Example],
        placement: Placement,
        include_instructions: bool = True,
        n_iterations: int = 1,
        state: AttackState | None = None,
        example_ids: Sequence[int] | None = None,
        judge_at: Sequence[int] | None = None,
    ) -> AttackResult:
        """Attack every example for ``n_iterations`` more iterations.

        ``example_ids`` (default ``0..E-1``) name the examples in records and seed their random
        draws; give dataset indices so that any batching draws the same numbers. Pass the
        ``state`` of an earlier run on the same examples to continue it (it is not modified):
        records then start after its last iteration; a fresh run starts with iteration 0, the
        clean prompt. ``judge_at`` limits a judged victim's judging to those iterations (0, the
        clean prompt, is always judged); the other records' success is NA. RandomToken judges
        every draw regardless: its first-success rule needs them.
        """
        if not examples:
            raise ValueError("no examples to attack (none classified correctly?)")
        ids = list(range(len(examples))) if example_ids is None else [int(i) for i in example_ids]
        if len(ids) != len(examples):
            raise ValueError(f"got {len(examples)} examples but {len(ids)} example_ids")
        if n_iterations < 0:
            raise ValueError(f"n_iterations must be >= 0, got {n_iterations}")
        fingerprint = self._fingerprint(examples, placement, include_instructions, ids)
        context = [attack_context(e, placement, include_instructions) for e in examples]
        inputs = RunInputs(
            examples, context, None if judge_at is None else frozenset(map(int, judge_at))
        )
        layout = self.scorer.layout(
            [c[0] for c in context],
            [c[1] for c in context],
            [e.proxy_clf_label for e in examples],
            [e.clf_label for e in examples],
            targets=[e.proxy_gen_target for e in examples],
        )
        steps = Steps()
        if state is None:
            generators = [example_generator(self.options.seed, i) for i in ids]
            judged = self._verdict(
                inputs,
                np.arange(len(ids)),
                [""] * len(ids),
                clean_scores(self.scorer, examples, include_instructions),
            )
            clean = judged.scores
            empty = [[] for _ in ids]
            steps.add(judged, empty, [""] * len(ids), np.zeros(len(ids), dtype=np.int64))
            state = AttackState(
                attack=self.name,
                fingerprint=fingerprint,
                example_ids=ids,
                iteration=0,
                generator_states=[],
                current_ids=empty,
                current_text=[""] * len(ids),
                current_loss=clean.loss.cpu(),
                current_predicted=clean.predicted_label.cpu(),
                current_success=clean.success.cpu(),
                current_generation=judged.generations,
            )
            self._start(state, layout, inputs, generators)
        else:
            if state.attack != self.name or state.fingerprint != fingerprint:
                raise ValueError(
                    f"state is from a {state.attack!r} attack on other examples or options; "
                    f"this is a {self.name!r} attack on {len(ids)} examples"
                )
            state = copy.deepcopy(state)
            state.current_generation = state.current_generation or [""] * len(ids)
            generators = [torch.Generator().set_state(s) for s in state.generator_states]
        first = state.iteration + 1 - len(steps.loss)
        self._advance(state, layout, inputs, generators, n_iterations, steps)
        state.iteration += n_iterations
        state.generator_states = [g.get_state() for g in generators]
        return AttackResult(self._records(steps, ids, first), state)

    def _fingerprint(
        self,
        examples: Sequence[Example],
        placement: Placement,
        include_instructions: bool,
        ids: list[int],
    ) -> str:
        """Hash of everything a state depends on, so a mismatched resume fails loudly."""
        digest = hashlib.sha256(
            repr(
                (self.name, self.options, placement, include_instructions, ids, self._judging())
            ).encode()
        )
        for e in examples:
            digest.update(repr(e.to_row()).encode())
        return digest.hexdigest()

    def _judging(self) -> tuple[str, int] | None:
        """What decides success besides the victim: the judge with all its settings (its repr:
        phrases, template, ...) and the answer length."""
        return None if self.check is None else (repr(self.check.judge), self.check.max_new_tokens)

    def _records(self, steps: Steps, ids: list[int], first: int) -> pd.DataFrame:
        n_steps, n_examples = len(steps.loss), len(ids)
        if n_steps == 0:
            return pd.DataFrame({c: [] for c in RECORD_COLUMNS})
        loss = torch.stack(steps.loss).cpu().numpy()
        success = torch.stack(steps.success).cpu().numpy().ravel()
        if not all(steps.judged):
            success = pd.array(success, dtype="boolean")
            success[~np.repeat(steps.judged, n_examples)] = pd.NA
        return pd.DataFrame(
            {
                "example_id": np.tile(ids, n_steps),
                "iteration": np.repeat(np.arange(first, first + n_steps), n_examples),
                "loss": loss.ravel(),
                "success": success,
                "predicted_label": torch.stack(steps.predicted).cpu().numpy().ravel(),
                "attack_ids": [list(map(int, x)) for step in steps.ids for x in step],
                "attack_text": [t for step in steps.text for t in step],
                "generation": [g for step in steps.generation for g in step],
                "flops": np.concatenate(steps.flops).astype(np.int64),
                "judge_flops": np.concatenate(steps.judge_flops).astype(np.int64),
            }
        )

    @abstractmethod
    def _start(
        self,
        state: AttackState,
        layout: Layout,
        inputs: RunInputs,
        generators: list[torch.Generator],
    ) -> None:
        """Fill the attack-specific parts of a fresh state."""

    @abstractmethod
    def _advance(
        self,
        state: AttackState,
        layout: Layout,
        inputs: RunInputs,
        generators: list[torch.Generator],
        n_iterations: int,
        steps: Steps,
    ) -> None:
        """Run ``n_iterations`` iterations, updating ``state`` and appending to ``steps``."""
