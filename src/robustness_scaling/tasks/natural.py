"""Natural-text tasks (Spam, IMDB, Helpful, Harmless, StrongREJECT) loaded with ``datasets``.

The same code reads the hub datasets named in docs/method.md "Tasks" and local jsonl / parquet / csv
files. Local files need only ``content`` and ``clf_label`` (under any column names mapped in the
config); the other study columns are filled from the task's definition. A generation task
(StrongREJECT) needs only ``content`` (its forbidden prompts) and may have no train split: its
victims are evaluated as they come.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from robustness_scaling.errors import InputError
from robustness_scaling.tasks.base import ANSWER_PROMPT, Example, Task, shuffled
from robustness_scaling.tasks.local_files import LocalFileError, read_local_split

REQUIRED_COLUMNS = ("content", "clf_label")


class DataSourceError(InputError):
    """A dataset that cannot be read as the task needs it; the message names the culprit."""


def _load_raw(source: str | None, revision: str | None) -> Any:
    import datasets

    try:
        return datasets.load_dataset(source, revision=revision)
    except Exception as error:  # datasets raises many types; the user needs the name either way
        raise DataSourceError(
            f"cannot load dataset {source!r} (revision {revision!r}): {error}. Offline, point the "
            "task's `files` at local jsonl/parquet/csv splits instead."
        ) from error


def _chunks(content: str | list[str] | None) -> tuple[str, ...]:
    """Content as chunks; a blank cell (None in csv) or blank text gives no chunks."""
    if content is None:
        return ()
    chunks = (content,) if isinstance(content, str) else tuple(content)
    return chunks if "".join(chunks).strip() else ()


def _required(task: Task) -> tuple[str, ...]:
    return ("content",) if task.is_generation else REQUIRED_COLUMNS


def _to_example(row: dict[str, Any], task: Task) -> Example:
    label = row.get("clf_label")
    if label is None:
        if not task.is_generation:
            raise DataSourceError(
                f"{task.name}: a row has no clf_label (content {str(row['content'])[:60]!r}); "
                "every example of a classification task needs its label"
            )
        label = 0  # a generation task's examples have one intended behaviour
    label = int(label)
    return Example(
        instructions=row.get("instructions") or task.instructions,
        content=_chunks(row["content"]),
        answer_prompt=row.get("answer_prompt") or ANSWER_PROMPT,
        clf_label=label,
        proxy_clf_label=1 - label,
        gen_target=task.label_words[label],
        proxy_gen_target=task.label_words[1 - label],
    )


def load_natural_task(
    task: Task,
    source: str | None,
    revision: str | None = None,
    files: Mapping[str, str] | None = None,
    columns: Mapping[str, str] | None = None,
    splits: Mapping[str, str] | None = None,
    seed: int = 0,
    shuffle: bool = False,
) -> dict[str, list[Example]]:
    """Load, check and clean a natural-text task into ``{"train", "validation"}``.

    ``columns`` maps a study column to the file's column name (``{"content": "text"}``);
    ``splits`` maps our split names to the source's (``{"validation": "test"}``). Rows keep
    their order unless ``shuffle`` (with ``seed``): the paper's hub datasets were shuffled once
    when they were made, and the study takes the first n rows of a split. Local ``files`` are
    checked row by row (:mod:`robustness_scaling.tasks.local_files`); a hub dataset's rows
    with no text are dropped, as the paper's loading did.
    """
    splits = {"train": "train", "validation": "validation", **(splits or {})}
    if files:
        return _from_local_files(task, files, columns, splits, seed, shuffle)
    raw = _load_raw(source, revision)
    result = {}
    for ours, theirs in splits.items():
        if theirs not in raw and ours == "train" and task.is_generation:
            result[ours] = []  # evaluated as they come: StrongREJECT has validation only
            continue
        if theirs not in raw:
            raise DataSourceError(
                f"{task.name}: split {theirs!r} not in {source} (has {sorted(raw)})"
            )
        split = raw[theirs]
        renames = {src: dst for dst, src in (columns or {}).items() if src != dst}
        absent = [src for src in renames if src not in split.column_names]
        missing = [
            c for c in _required(task) if c not in split.column_names and c not in renames.values()
        ]
        if absent or missing:
            raise DataSourceError(
                f"{task.name}: {source} split {theirs!r} lacks column(s) "
                f"{sorted(set(absent) | set(missing))}; it has {split.column_names}. Map them "
                "with the task's `columns` setting."
            )
        split = split.rename_columns(renames)
        split = split.filter(lambda row: bool(_chunks(row["content"])))
        if shuffle:
            split = split.shuffle(seed=seed)
        result[ours] = [_to_example(row, task) for row in split]
    return result


def _from_local_files(
    task: Task,
    files: Mapping[str, str],
    columns: Mapping[str, str] | None,
    splits: Mapping[str, str],
    seed: int,
    shuffle: bool,
) -> dict[str, list[Example]]:
    """The splits from the task's own files, each checked whole before any is used."""
    result = {}
    for ours, theirs in splits.items():
        if theirs not in files and ours == "train" and task.is_generation:
            result[ours] = []  # evaluated as they come
            continue
        if theirs not in files:
            raise DataSourceError(
                f"{task.name}: split {theirs!r} is not among the task's `files` "
                f"({sorted(files)}); name its file under `files.{theirs}`"
            )
        try:
            rows = read_local_split(files[theirs], task, columns)
        except LocalFileError as error:
            raise DataSourceError(f"{task.name}: {error}") from None
        examples = [_to_example(row, task) for row in rows]
        result[ours] = shuffled(examples, seed) if shuffle else examples
    return result
