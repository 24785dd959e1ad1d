"""Every defect of a local task file stops the data job with a message naming the file, the row
(a jsonl file's line) and the column; nothing is repaired."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from robustness_scaling.tasks import get_task
from robustness_scaling.tasks.natural import DataSourceError, load_natural_task

GOOD = [{"content": f"mail number {i}", "clf_label": i % 2} for i in range(4)]


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def _csv(frame: pd.DataFrame, **options) -> bytes:
    return frame.to_csv(index=False, **options).encode()


def _parquet(frame: pd.DataFrame, tmp: Path) -> bytes:
    frame.to_parquet(tmp)
    return tmp.read_bytes()


def _with_label(label) -> list[dict]:
    return [*GOOD[:2], {"content": "a third mail", "clf_label": label}, *GOOD[2:]]


CASES = {
    "malformed JSON line": (
        "jsonl",
        lambda tmp: _jsonl(GOOD[:2]) + b'{"content": "cut off", "clf_label": \n' + _jsonl(GOOD),
        "train.jsonl: line 3 is not valid JSON (Expecting value at column 37)",
    ),
    "missing label column": (
        "jsonl",
        lambda tmp: _jsonl([{"content": "no label here"}]),
        "train.jsonl: line 1 lacks column(s) ['clf_label'] (required); it has ['content']",
    ),
    "label 2": (
        "jsonl",
        lambda tmp: _jsonl(_with_label(2)),
        "line 3, column 'clf_label': 2 is not a label; allowed: 0 or 1",
    ),
    "label -1": (
        "jsonl",
        lambda tmp: _jsonl(_with_label(-1)),
        "line 3, column 'clf_label': -1 is not a label",
    ),
    "label spam": (
        "jsonl",
        lambda tmp: _jsonl(_with_label("spam")),
        "line 3, column 'clf_label': 'spam' is not a label",
    ),
    "label 1.5": (
        "jsonl",
        lambda tmp: _jsonl(_with_label(1.5)),
        "line 3, column 'clf_label': 1.5 is not a label",
    ),
    "label null": (
        "jsonl",
        lambda tmp: _jsonl(_with_label(None)),
        "line 3, column 'clf_label': None is not a label",
    ),
    "label true": (
        "jsonl",
        lambda tmp: _jsonl(_with_label(True)),
        "line 3, column 'clf_label': True is not a label",
    ),
    "csv label 1.5": (
        "csv",
        lambda tmp: _csv(pd.DataFrame(_with_label(1.5))),
        "train.csv: row 3, column 'clf_label': '1.5' is not a label; allowed: 0 or 1",
    ),
    "csv empty label cell": (
        "csv",
        lambda tmp: b"content,clf_label\nfine,0\nno label,\n",
        "train.csv: row 2, column 'clf_label': '' is not a label",
    ),
    "empty file": ("jsonl", lambda tmp: b"", "train.jsonl: the file is empty"),
    "empty csv": ("csv", lambda tmp: b"\n", "train.csv: the file is empty"),
    "only a header": (
        "csv",
        lambda tmp: b"content,clf_label\n",
        "train.csv: the file holds no rows",
    ),
    "wrong delimiter": (
        "csv",
        lambda tmp: _csv(pd.DataFrame(GOOD), sep=";"),
        "train.csv: lacks column(s) ['content', 'clf_label']; it has ['content;clf_label'] (its "
        "header reads 'content;clf_label': is the file delimited by other than ',')",
    ),
    "empty text": (
        "jsonl",
        lambda tmp: _jsonl([*GOOD, {"content": "   ", "clf_label": 0}]),
        "train.jsonl: line 5, column 'content': the text is empty",
    ),
    "text not a string": (
        "jsonl",
        lambda tmp: _jsonl([{"content": 12, "clf_label": 0}]),
        "train.jsonl: line 1, column 'content': 12 is not a text",
    ),
    "binary garbage jsonl": (
        "jsonl",
        lambda tmp: b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe",
        "train.jsonl: line 1 is not UTF-8 text",
    ),
    "binary garbage csv": (
        "csv",
        lambda tmp: b"\xff\xfe\x00\x01garbage",
        "train.csv: not UTF-8 text",
    ),
    "binary garbage parquet": (
        "parquet",
        lambda tmp: b"PAR1 not really",
        "train.parquet: not a readable parquet file",
    ),
    "parquet string labels": (
        "parquet",
        lambda tmp: _parquet(pd.DataFrame({"content": ["a", "b"], "clf_label": ["0", "1"]}), tmp),
        "string; labels must be integers 0 or 1",  # string or large_string, by pandas version
    ),
    "parquet float labels": (
        "parquet",
        lambda tmp: _parquet(pd.DataFrame({"content": ["a", "b"], "clf_label": [0.0, 1.0]}), tmp),
        "train.parquet: column 'clf_label' (clf_label) has type double; labels must be integers",
    ),
    "parquet label out of range": (
        "parquet",
        lambda tmp: _parquet(pd.DataFrame({"content": ["a", "b"], "clf_label": [0, 3]}), tmp),
        "train.parquet: row 2, column 'clf_label': 3 is not a label",
    ),
    "column map naming no column": (
        "csv",
        lambda tmp: _csv(pd.DataFrame(GOOD)),
        "train.csv: the task's `columns` names ['text'], which the file does not have; it has "
        "['content', 'clf_label']",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_each_defect_is_named_with_its_file_row_and_column(case, tmp_path):
    fmt, content, expected = CASES[case]
    train = tmp_path / f"train.{fmt}"
    train.write_bytes(content(tmp_path / "scratch.parquet"))
    validation = tmp_path / "validation.jsonl"
    validation.write_bytes(_jsonl(GOOD))
    columns = {"content": "text"} if case == "column map naming no column" else None
    with pytest.raises(DataSourceError) as caught:
        load_natural_task(
            get_task("spam"),
            None,
            files={"train": str(train), "validation": str(validation)},
            columns=columns,
        )
    message = str(caught.value)
    assert message.startswith(f"spam: {train}") or message.startswith("spam: task data"), message
    assert expected in message, message


def test_every_bad_row_is_reported_up_to_five_then_counted(tmp_path):
    rows = [{"content": f"mail {i}", "clf_label": 7} for i in range(8)]
    (tmp_path / "train.jsonl").write_bytes(_jsonl(rows))
    with pytest.raises(DataSourceError) as caught:
        load_natural_task(
            get_task("spam"),
            None,
            files={
                "train": str(tmp_path / "train.jsonl"),
                "validation": str(tmp_path / "train.jsonl"),
            },
        )
    lines = str(caught.value).splitlines()
    assert [re.search(r"(line \d+), column", line)[1] for line in lines[:5]] == [
        f"line {i}" for i in range(1, 6)
    ]
    assert lines[5] == "... and 3 more"


def test_a_split_the_files_do_not_have(tmp_path):
    (tmp_path / "val.jsonl").write_bytes(_jsonl(GOOD))
    with pytest.raises(DataSourceError) as caught:
        load_natural_task(get_task("imdb"), None, files={"validation": str(tmp_path / "val.jsonl")})
    assert str(caught.value) == (
        "imdb: split 'train' is not among the task's `files` (['validation']); name its file "
        "under `files.train`"
    )


def test_a_generation_task_needs_no_labels_and_no_train_split(tmp_path):
    (tmp_path / "val.jsonl").write_bytes(_jsonl([{"content": "how do I pick a lock"}]))
    splits = load_natural_task(
        get_task("strongreject"), None, files={"validation": str(tmp_path / "val.jsonl")}
    )
    assert splits["train"] == [] and splits["validation"][0].content == ("how do I pick a lock",)
