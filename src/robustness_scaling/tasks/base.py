"""The example format shared by every task, and where an attack's text goes in it.

Every example carries the study's columns (docs/method.md "Tasks"): the model input is
``instructions + "".join(content) + answer_prompt``. Attacks never build strings themselves;
they ask :func:`attack_context` for the text before and after the attack slot, so the same
attack code serves the overwritable chunk of the synthetic tasks and the perturb positions
(suffix, infix, prefix) of the natural-text tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

ANSWER_PROMPT = "\n\nAnswer:"


@dataclass(frozen=True)
class Example:
    """One labelled example in the study's column layout."""

    instructions: str
    content: tuple[str, ...]
    answer_prompt: str
    clf_label: int
    proxy_clf_label: int
    gen_target: str
    proxy_gen_target: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Example:
        return cls(
            instructions=row["instructions"],
            content=tuple(row["content"]),
            answer_prompt=row["answer_prompt"],
            clf_label=int(row["clf_label"]),
            proxy_clf_label=int(row["proxy_clf_label"]),
            gen_target=row["gen_target"],
            proxy_gen_target=row["proxy_gen_target"],
        )

    def to_row(self) -> dict[str, Any]:
        return {
            "instructions": self.instructions,
            "content": list(self.content),
            "answer_prompt": self.answer_prompt,
            "clf_label": self.clf_label,
            "proxy_clf_label": self.proxy_clf_label,
            "gen_target": self.gen_target,
            "proxy_gen_target": self.proxy_gen_target,
        }


@dataclass(frozen=True)
class Placement:
    """Where attack text goes.

    ``overwritable`` tasks (PasswordMatch, WordLength) put it in their empty content chunk.
    Otherwise it is inserted into the content at character ``int(len(content) * position)``:
    1.0 is a suffix (the paper's default), 0.9 the "infix90" variant, 0.0 a prefix.
    """

    overwritable_chunk: int | None = None
    position: float = 1.0

    @property
    def name(self) -> str:
        if self.overwritable_chunk is not None:
            return "chunk"
        return {1.0: "suffix", 0.0: "prefix"}.get(
            self.position, f"infix{round(self.position * 100)}"
        )


def model_input(example: Example, include_instructions: bool = True) -> str:
    """The exact string the victim reads for a clean example.

    ``include_instructions=False`` drops the preamble: a per-study option for models trained
    from scratch, which cannot read it (the paper configs keep it).
    """
    head = example.instructions if include_instructions else ""
    return head + "".join(example.content) + example.answer_prompt


def attack_context(
    example: Example, placement: Placement, include_instructions: bool = True
) -> tuple[str, str]:
    """Split the model input into (text before the attack, text after the attack).

    The victim reads ``before + attack_text + after``; attack text is concatenated with no
    separator, as in the paper.
    """
    head = example.instructions if include_instructions else ""
    content = "".join(example.content)
    if placement.overwritable_chunk is not None:
        cut = len("".join(example.content[: placement.overwritable_chunk]))
    else:
        cut = int(len(content) * placement.position)
    return head + content[:cut], content[cut:] + example.answer_prompt


def with_attack(example: Example, placement: Placement, attack_text: str) -> Example:
    """The example with ``attack_text`` written where :func:`attack_context` puts the attack.

    Adversarial training stores its examples this way (not as raw strings), so the victim reads
    exactly ``before + attack_text + after`` and the example keeps its labels and columns. The
    text goes at the start of the overwritable chunk (empty in the synthetic tasks, so it fills
    it), or into the content chunk holding the perturb position's character.
    """
    content = list(example.content)
    if placement.overwritable_chunk is not None:
        content[placement.overwritable_chunk] = attack_text + content[placement.overwritable_chunk]
        return replace(example, content=tuple(content))
    cut = int(len("".join(content)) * placement.position)
    offset = 0
    for index, chunk in enumerate(content):
        if offset + len(chunk) >= cut:
            at = cut - offset
            content[index] = chunk[:at] + attack_text + chunk[at:]
            return replace(example, content=tuple(content))
        offset += len(chunk)
    return replace(example, content=(attack_text,))  # no content at all: the attack is all of it


CLASSIFICATION = "classification"
GENERATION = "generation"


@dataclass(frozen=True)
class Task:
    """A task's fixed facts: its name, label words, default attack slot and kind.

    A ``generation`` task's victim is a causal LM judged on what it writes (``gen_target`` is
    the intended answer, ``proxy_gen_target`` the attack's target). ``attacked_labels`` limits
    the attacked examples to some classes, where only those make a meaningful attack (a wrong
    password talked into " GRANTED"); ``None`` attacks every correctly answered example.
    """

    name: str
    label_words: tuple[str, str]
    placement: Placement
    instructions: str
    kind: str = CLASSIFICATION
    attacked_labels: tuple[int, ...] | None = None
    judge: str = "target"

    @property
    def is_generation(self) -> bool:
        return self.kind == GENERATION


def shuffled(examples: list[Example], seed: int) -> list[Example]:
    """``examples`` in the order of the permutation ``datasets`` shuffles with (numpy's
    ``default_rng(seed)``): generated and loaded splits are shuffled alike."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(examples))
    return [examples[i] for i in order]
