"""A task's local split files (jsonl / json / csv / parquet), read and checked row by row.

The hub datasets of docs/method.md were checked when they were made; a user's own files were
not. Every defect is reported with the file, the row (a jsonl file's line) and the column, before
any model is trained, and nothing is repaired: a label outside {0, 1}, an empty text or a
malformed line stops the data job. ``datasets`` is not used here because its errors name
neither the file nor the row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from robustness_scaling.errors import InputError
from robustness_scaling.tasks.base import Task

FORMATS = (".jsonl", ".json", ".csv", ".parquet")
LABELS = (0, 1)
OPTIONAL_COLUMNS = ("instructions", "answer_prompt")
MAX_REPORTED = 5  # defects listed in one message; the count says how many more there are


class LocalFileError(InputError):
    """A local task file that cannot be used as it is; the message names file, row and column."""


Row = dict[str, Any]


def _json_lines(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, value) per line of a JSON-lines file; a JSON array file gives its items."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"["):
        try:
            items = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise LocalFileError(f"{path}: not a valid JSON array ({error})") from None
        yield from ((f"item {i}", item) for i, item in enumerate(items, 1))
        return
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue  # blank lines (the final newline) hold no row
        try:
            yield f"line {number}", json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            raise LocalFileError(f"{path}: line {number} is not UTF-8 text") from None
        except json.JSONDecodeError as error:
            raise LocalFileError(
                f"{path}: line {number} is not valid JSON ({error.msg} at column {error.colno})"
            ) from None


def _csv_rows(path: Path) -> tuple[list[str], Iterator[tuple[str, Row]]]:
    import pandas as pd

    try:  # every cell as its text: no type guessing, no NaN for an empty cell
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise LocalFileError(f"{path}: the file is empty") from None
    except UnicodeDecodeError as error:
        raise LocalFileError(
            f"{path}: not UTF-8 text (byte {error.start}); is it a csv file?"
        ) from None
    except pd.errors.ParserError as error:
        raise LocalFileError(f"{path}: not a readable csv file ({error})") from None
    records = frame.to_dict("records")
    return list(frame.columns), ((f"row {i}", row) for i, row in enumerate(records, 1))


def _parquet_rows(path: Path) -> tuple[list[str], Any, Iterator[tuple[str, Row]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise LocalFileError(f"{path}: not a readable parquet file ({error})") from None
    rows = ((f"row {i}", row) for i, row in enumerate(table.to_pylist(), 1))
    return table.column_names, table.schema, rows


def _parquet_type_problems(path: Path, schema: Any, columns: Mapping[str, str]) -> list[str]:
    """Column types a parquet file fixes for every row: integer labels, string text."""
    import pyarrow as pa

    problems = []
    for ours, theirs in columns.items():
        if theirs not in schema.names:
            continue
        kind = schema.field(theirs).type
        if ours == "clf_label" and not pa.types.is_integer(kind):
            problems.append(
                f"{path}: column {theirs!r} (clf_label) has type {kind}; labels must be "
                "integers 0 or 1"
            )
        is_text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        if ours == "content" and not is_text:
            is_chunks = pa.types.is_list(kind) and pa.types.is_string(kind.value_type)
            if not is_chunks:
                problems.append(
                    f"{path}: column {theirs!r} (content) has type {kind}; texts must be strings"
                )
    return problems


def _label(value: Any, text_cells: bool) -> int | None:
    """The label a cell holds, or None where it holds none of 0 and 1 (csv cells are text)."""
    if text_cells:
        return int(value) if value in ("0", "1") else None
    if isinstance(value, bool) or not isinstance(value, int) or value not in LABELS:
        return None
    return value


def _content(value: Any) -> tuple[str, ...] | None:
    """A row's text as chunks, or None where it is not text."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(chunk, str) for chunk in value):
        return tuple(value)
    return None


def _row_problems(
    path: Path, where: str, row: Any, columns: Mapping[str, str], labelled: bool, text: bool
) -> tuple[Row | None, list[str]]:
    """The row in the study's columns, or the defects that keep it out."""
    if not isinstance(row, dict):
        return None, [f"{path}: {where} is not an object with named columns ({type(row).__name__})"]
    problems, clean = [], {}
    name = columns["content"]
    chunks = _content(row.get(name))
    if chunks is None:
        problems.append(f"{path}: {where}, column {name!r}: {row.get(name)!r} is not a text")
    elif not "".join(chunks).strip():
        problems.append(f"{path}: {where}, column {name!r}: the text is empty")
    else:
        clean["content"] = chunks
    name = columns["clf_label"]
    if labelled or row.get(name) not in (None, ""):
        label = _label(row.get(name), text)
        if label is None:
            problems.append(
                f"{path}: {where}, column {name!r}: {row.get(name)!r} is not a label; "
                "allowed: 0 or 1"
            )
        clean["clf_label"] = label
    for ours in OPTIONAL_COLUMNS:
        value = row.get(columns[ours])
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            problems.append(f"{path}: {where}, column {columns[ours]!r}: {value!r} is not a text")
        clean[ours] = value
    return (None if problems else clean), problems


def read_local_split(
    path: str | Path, task: Task, columns: Mapping[str, str] | None = None
) -> list[Row]:
    """The rows of one split file in the study's columns (``content`` as chunks, ``clf_label``,
    optional ``instructions`` / ``answer_prompt``); ``columns`` maps a study column to the
    file's (``{"content": "text"}``). A classification task's rows need a label; a generation
    task's may have none. Raises :class:`LocalFileError` listing what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise LocalFileError(f"task data file not found: {path}")
    if path.suffix not in FORMATS:
        raise LocalFileError(f"{path}: unknown format {path.suffix!r}; allowed: {FORMATS}")
    if path.stat().st_size == 0:
        raise LocalFileError(f"{path}: the file is empty")
    names = {c: c for c in ("content", "clf_label", *OPTIONAL_COLUMNS)} | dict(columns or {})
    labelled = not task.is_generation
    problems: list[str] = []
    if path.suffix == ".csv":
        header, rows = _csv_rows(path)
    elif path.suffix == ".parquet":
        header, schema, rows = _parquet_rows(path)
        problems += _parquet_type_problems(path, schema, names)
    else:
        header, rows = None, _json_lines(path)
    if header is not None:
        problems += _header_problems(path, header, names, columns or {}, labelled)
    if problems:
        raise LocalFileError("\n".join(problems))
    kept: list[Row] = []
    text = path.suffix == ".csv"
    for where, row in rows:
        if header is None and isinstance(row, dict):
            _check_json_columns(path, where, row, names, columns or {}, labelled)
        clean, found = _row_problems(path, where, row, names, labelled, text)
        problems += found
        if clean is not None:
            kept.append(clean)
    if problems:
        more = len(problems) - MAX_REPORTED
        listed = problems[:MAX_REPORTED] + ([f"... and {more} more"] if more > 0 else [])
        raise LocalFileError("\n".join(listed))
    if not kept:
        raise LocalFileError(f"{path}: the file holds no rows")
    return kept


def _missing(names: Mapping[str, str], labelled: bool, present: Any) -> list[str]:
    """The file's names of the required columns that ``present`` (a header, a row) lacks."""
    required = ["content", *(["clf_label"] if labelled else [])]
    return [names[c] for c in required if names[c] not in present]


def _header_problems(
    path: Path,
    header: list[str],
    names: Mapping[str, str],
    mapped: Mapping[str, str],
    labelled: bool,
) -> list[str]:
    """Columns a csv or parquet file lacks, named once for the whole file."""
    problems = []
    unknown = [theirs for ours, theirs in mapped.items() if theirs not in header]
    if unknown:
        problems.append(
            f"{path}: the task's `columns` names {sorted(unknown)}, which the file does not "
            f"have; it has {header}"
        )
    missing = [c for c in _missing(names, labelled, header) if c not in unknown]
    if missing:
        hint = ""
        if len(header) == 1 and any(mark in header[0] for mark in (";", "\t", "|")):
            hint = f" (its header reads {header[0]!r}: is the file delimited by other than ',')"
        problems.append(
            f"{path}: lacks column(s) {missing}; it has {header}{hint}. Map them with the "
            "task's `columns` setting."
        )
    return problems


def _check_json_columns(
    path: Path,
    where: str,
    row: Row,
    names: Mapping[str, str],
    mapped: Mapping[str, str],
    labelled: bool,
) -> None:
    """A JSON row that lacks a required or mapped column stops the read at that row."""
    missing = _missing(names, labelled, row)
    if missing:
        named = [c for c in missing if c in mapped.values()]
        how = "named by the task's `columns`" if named else "required"
        raise LocalFileError(
            f"{path}: {where} lacks column(s) {missing} ({how}); it has {sorted(row)}"
        )
