"""Atomic writes: strict JSON, and no temporary files left behind by killed writers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from robustness_scaling.atomic import NOT_FINITE, atomic_path, write_json


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_a_nan_is_written_as_null_with_the_reason(tmp_path):
    write_json(
        tmp_path / "m.json",
        {"clean_accuracy": float("nan"), "n": 3, "curve": [1.0, float("inf")]},
    )
    data = _strict((tmp_path / "m.json").read_text())
    assert data["clean_accuracy"] is None and data["curve"] == [1.0, None] and data["n"] == 3
    assert data["nulls"] == {"clean_accuracy": NOT_FINITE, "curve[1]": NOT_FINITE}


def test_finite_data_is_written_as_it_is(tmp_path):
    write_json(tmp_path / "m.json", {"a": 0.5, "b": [1, 2]})
    assert _strict((tmp_path / "m.json").read_text()) == {"a": 0.5, "b": [1, 2]}


def test_a_killed_writers_temporary_is_removed_and_a_live_ones_kept(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stale = tmp_path / f".out.json.tmp-{dead}"
    stale.write_text("half")
    live = tmp_path / f".out.json.tmp-{os.getppid()}"
    live.write_text("in progress")
    with atomic_path(tmp_path / "out.json") as tmp:
        tmp.write_text("{}")
    assert not stale.exists() and live.exists()
    assert (tmp_path / "out.json").read_text() == "{}"


def test_a_list_with_nan_is_refused_naming_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"l\.json: not finite numbers at \['\[0\]'\]"):
        write_json(tmp_path / "l.json", [float("nan")])
