"""Running an attack in checkpointed chunks, so that a killed job continues where it stopped.

Attacks continue exactly (:class:`~robustness_scaling.attacks.base.AttackState`), so running
to iteration n in chunks, with or without a restart between them, records what one run
straight through records. The attack cells (an attack's budget ladder on one model) and the
adversarial rounds (the training attack on the current model) both run their attacks here, and
both save an attack as :class:`AttackFiles`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from robustness_scaling.atomic import atomic_path
from robustness_scaling.attacks.base import Attack
from robustness_scaling.attacks.state import AttackState
from robustness_scaling.runtime import PROGRESS
from robustness_scaling.tasks.base import Example, Placement


@dataclass(frozen=True)
class AttackFiles:
    """An attack's records so far (iterations 0..n) and the state that continues them: a
    budget's outputs, a stored budget, or a checkpoint. The state is ``None`` when no example
    was attacked. ``writer`` is false on the ranks of a sharded job but rank 0: every rank
    computes the same attack, and two writers of one file race each other."""

    records: Path
    state: Path
    writer: bool = True

    @classmethod
    def checkpoint_in(cls, folder: Path, writer: bool = True) -> AttackFiles:
        """The checkpoint of an attack in progress, in a job's resume folder."""
        return cls(folder / "attack_records.parquet", folder / "attack_state.pt", writer)

    @property
    def paths(self) -> tuple[Path, Path]:
        return self.records, self.state

    def exist(self) -> bool:
        return self.records.is_file() and self.state.is_file()

    def save(self, records: pd.DataFrame, state: AttackState | None) -> None:
        """Write both atomically (temp file, then rename): a killed job never leaves half."""
        if not self.writer:
            return
        with atomic_path(self.records) as tmp:
            records.to_parquet(tmp, index=False)
        with atomic_path(self.state) as tmp:
            torch.save(None if state is None else state.__dict__, tmp)

    def load(self) -> tuple[pd.DataFrame, AttackState | None]:
        """Read what :meth:`save` wrote (plain tensors and lists: ``weights_only``)."""
        saved = torch.load(self.state, weights_only=True)
        return pd.read_parquet(self.records), None if saved is None else AttackState(**saved)

    def remove(self) -> None:
        for path in self.paths:
            path.unlink(missing_ok=True)


@dataclass
class Progress:
    """Progress lines of one job's attack: ``<label>iteration d/last: ASR a (elapsed, eta)``."""

    log: logging.Logger
    last: int
    label: str = ""
    started: float = field(default_factory=time.monotonic)
    first: int | None = None

    def report(self, done: int, records: pd.DataFrame) -> None:
        """Log iteration ``done``'s ASR among ``records``; the eta extrapolates this job's pace."""
        success = records.loc[records["iteration"] == done, "success"]
        elapsed = time.monotonic() - self.started
        self.log.info(
            "%siteration %d/%d: ASR %s (%.0fs, eta %.0fs)",
            self.label,
            done,
            self.last,
            "not judged here" if success.isna().all() else f"{success.mean():.3f}",
            elapsed,
            elapsed / max(done - (self.first or 0), 1) * (self.last - done),
            extra=PROGRESS,
        )


def resumed(
    checkpoint: AttackFiles | None,
    records: pd.DataFrame,
    state: AttackState | None,
    log: logging.Logger,
) -> tuple[pd.DataFrame, AttackState | None]:
    """The checkpoint's records and state where it is further on than ``state``, else
    ``records`` and ``state`` as they are."""
    if checkpoint is None or not checkpoint.exist():
        return records, state
    saved_records, saved = checkpoint.load()
    if saved is None or saved.iteration <= (-1 if state is None else state.iteration):
        return records, state
    log.info("attack resumed from %s at iteration %d", checkpoint.state.parent, saved.iteration)
    return saved_records, saved


def run_resumable(
    attack: Attack,
    examples: Sequence[Example],
    placement: Placement,
    include_instructions: bool,
    *,
    example_ids: Sequence[int],
    until: int,
    records: pd.DataFrame,
    state: AttackState | None,
    chunk: int,
    checkpoint: AttackFiles | None,
    progress: Progress,
    judge_at: Sequence[int] | None = None,
    columns: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, AttackState | None]:
    """Continue the attack from ``state`` (``records``: iterations so far) to iteration
    ``until``, ``chunk`` iterations at a time (0: at once), saving the records so far and the
    state to ``checkpoint`` after each chunk that stops short of ``until`` (the caller saves the
    finished attack where it belongs: a budget's outputs, a round's checkpoint). ``columns`` are
    added to the new rows (e.g. the precision they were made in: a job's earlier rows may come
    from another job)."""
    done = -1 if state is None else state.iteration
    if progress.first is None:
        progress.first = max(done, 0)
    while done < until:
        result = attack.run(
            examples,
            placement,
            include_instructions,
            n_iterations=min(chunk or until, until - max(done, 0)),
            state=state,
            example_ids=example_ids,
            judge_at=judge_at,
        )
        made = result.records.assign(**(columns or {}))
        records = pd.concat([records, made], ignore_index=True)
        state, done = result.state, result.state.iteration
        progress.report(done, made)
        if checkpoint is not None and done < until:
            checkpoint.save(records, state)
    return records, state
