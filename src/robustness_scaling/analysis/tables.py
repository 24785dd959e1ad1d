"""The attacks table: one tidy row per model × attack × iteration, the single input of metrics and
figures.

Every figure and every derived table (slopes, offense–defense) is computed from this table alone,
so a table made elsewhere (another codebase, the paper's own runs) in this schema can be analysed
and plotted without rerunning anything. The schema is documented column by column in
``docs/tables.md``; ``COLUMNS`` below is its machine-readable form and the two must agree.

A row is one family × size × task × seed × round × training_attack × attack × position ×
iteration. ``validate_table`` checks a table against the schema and returns it with canonical
dtypes; ``read_table`` / ``write_table`` round-trip it through CSV or Parquet without losing the
string type of columns such as ``size`` (``"1"`` must stay a size name, not become an integer);
``robustness_scaling.analysis.synthetic.synthetic_table`` makes a plausible table for tests
and demos.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from robustness_scaling.atomic import atomic_path
from robustness_scaling.errors import InputError


@dataclass(frozen=True)
class Column:
    """One column of the attacks table: its name, pandas dtype and meaning."""

    name: str
    dtype: str
    doc: str


COLUMNS: tuple[Column, ...] = (
    Column("family", "str", "Model family: `pythia`, `qwen2.5`, `tiny`, ..."),
    Column("size", "str", "Size name within the family (`14m`, `1.4b`, `0.5B`, ...)."),
    Column("task", "str", "Task name (`password_match`, `spam`, ...)."),
    Column("seed", "int64", "Finetuning seed (also the adversarial-training seed)."),
    Column("round", "int64", "Adversarial-training round; 0 is the finetuned model."),
    Column(
        "attack",
        "str",
        "Config name of the evaluation attack (`gcg`, `random_token`, `beast`, `gcg_infix90`).",
    ),
    Column(
        "position", "str", "Where the attack text goes: `chunk`, `suffix`, `infix90`, `prefix`."
    ),
    Column(
        "training_attack",
        "str",
        "Config name of the attack used in adversarial training of this model; empty when the "
        "model was never adversarially trained (round 0 of a finetuning-only study).",
    ),
    Column(
        "judge",
        "str",
        "Who decided success on a generation task's answers (`target-startswith`, `refusal`, "
        "`llm:NAME`); empty for classification tasks, where success is a wrong label.",
    ),
    Column(
        "precision",
        "str",
        "How the attack's passes were computed: `float32`, `bfloat16-autocast` (bfloat16 "
        "matmuls over float32 weights), or the weights' dtype.",
    ),
    Column("iteration", "int64", "Attack iteration; 0 is the clean input (ASR 0)."),
    Column(
        "n_params",
        "int64",
        "Parameter count N of the victim, all parameters: the classifier's, head included (a "
        "generation task's causal LM, LM head included).",
    ),
    Column("pretrain_flops", "float64", "Pretraining compute 6·N_gen·D of the generative model."),
    Column(
        "clean_accuracy",
        "float64",
        "Pre-attack accuracy on this attack's `n_val` examples, `n_attacked / n_val` (the "
        "model's own accuracy on finetuning's validation set is in its `metrics.json`).",
    ),
    Column(
        "n_val",
        "int64",
        "Validation examples considered (the paper's `dataset_n_val`); on a generation task with "
        "`attacked_labels`, those of the attacked labels.",
    ),
    Column(
        "n_attacked",
        "int64",
        "Validation examples classified (generation: answered, as judged) correctly, hence "
        "attacked.",
    ),
    Column(
        "asr",
        "float64",
        "Attack success rate at this iteration: fraction of the attacked examples misclassified.",
    ),
    Column(
        "attack_flops_per_example",
        "float64",
        "Cumulative attack FLOPs per attacked example up to this iteration.",
    ),
    Column(
        "attack_flops",
        "float64",
        "Cumulative attack FLOPs summed over the attacked examples up to this iteration.",
    ),
    Column(
        "judge_flops",
        "float64",
        "Cumulative FLOPs of the greedy answers a judge read to decide success, summed over the "
        "attacked examples up to this iteration (generation tasks; 0 for classification). Spent "
        "to measure the attack, not by it, so not part of `attack_flops`.",
    ),
    Column(
        "defense_flops",
        "float64",
        "Cumulative adversarial-training compute of this model up to this round: training FLOPs "
        "plus the FLOPs of generating its adversarial examples (the paper's `train_total_flops`). "
        "Initial finetuning is excluded. 0 at round 0.",
    ),
)

COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS)
DTYPES: dict[str, str] = {column.name: column.dtype for column in COLUMNS}

KEY_COLUMNS: tuple[str, ...] = (
    "family",
    "size",
    "task",
    "seed",
    "round",
    "training_attack",
    "attack",
    "position",
    "iteration",
)
"""Columns that identify a row: no two rows may share them."""

MODEL_COLUMNS: tuple[str, ...] = ("family", "size", "task", "seed", "training_attack", "round")
"""Columns that identify one trained model (one checkpoint)."""

CURVE_COLUMNS: tuple[str, ...] = (*MODEL_COLUMNS, "attack", "position")
"""Columns that identify one ASR-per-iteration curve (a model under one evaluation attack)."""

_STRING = [c.name for c in COLUMNS if c.dtype == "str"]
_INTEGER = [c.name for c in COLUMNS if c.dtype == "int64"]
_FLOAT = [c.name for c in COLUMNS if c.dtype == "float64"]
_FRACTIONS = ("clean_accuracy", "asr")
_NON_NEGATIVE = (
    "seed",
    "round",
    "iteration",
    "n_val",
    "n_attacked",
    "attack_flops_per_example",
    "attack_flops",
    "judge_flops",
    "defense_flops",
)
_POSITIVE = ("n_params", "pretrain_flops")
_MAY_BE_EMPTY = ("training_attack", "judge")


class TableError(InputError):
    """The table does not follow the attacks-table schema; the message lists every problem."""


def validate_table(table: pd.DataFrame) -> pd.DataFrame:
    """Check ``table`` against the schema and return a copy with canonical dtypes.

    All problems are collected and raised together in one ``TableError``, so a user fixing a table
    made elsewhere sees every missing column and bad value at once, not one per run. Extra columns
    are kept: they do no harm and may carry provenance.
    """
    problems: list[str] = []
    missing = [name for name in COLUMN_NAMES if name not in table.columns]
    if missing:
        problems.append(
            f"missing column(s) {missing}; the attacks table needs {list(COLUMN_NAMES)} "
            "(see docs/tables.md)"
        )
    out = table.copy()
    for name in _STRING:
        if name in out.columns:
            values = out[name]
            empty = values.isna() | (values.astype(str).str.strip() == "")
            if name not in _MAY_BE_EMPTY and empty.any():
                problems.append(f"`{name}`: {int(empty.sum())} empty value(s); it must be named")
            out[name] = values.where(~values.isna(), "").astype(str)
    for name in (*_INTEGER, *_FLOAT):
        if name not in out.columns:
            continue
        numeric = pd.to_numeric(out[name], errors="coerce")
        bad = numeric.isna() & out[name].notna()
        if bad.any() or numeric.isna().any():
            shown = out.loc[bad | numeric.isna(), name].head(3).tolist()
            problems.append(f"`{name}`: non-numeric or missing value(s), e.g. {shown}")
            continue
        if name in _INTEGER:
            if not np.all(np.isclose(numeric, np.round(numeric))):
                shown = numeric[~np.isclose(numeric, np.round(numeric))].head(3).tolist()
                problems.append(f"`{name}`: must hold integers, got e.g. {shown}")
                continue
            out[name] = np.round(numeric).astype("int64")
        else:
            out[name] = numeric.astype("float64")
    problems += _range_problems(out)
    if not problems and out.duplicated(list(KEY_COLUMNS)).any():
        dup = out.loc[out.duplicated(list(KEY_COLUMNS), keep=False), list(KEY_COLUMNS)]
        problems.append(
            f"{len(dup)} rows share their key columns {list(KEY_COLUMNS)}, e.g. "
            f"{dup.head(1).to_dict('records')[0]}"
        )
    if problems:
        raise TableError("invalid attacks table:\n" + "\n".join(f"  - {p}" for p in problems))
    return out.reset_index(drop=True)


def _range_problems(table: pd.DataFrame) -> list[str]:
    """Values that are numeric but impossible; checked only on columns that parsed."""
    problems = []

    def numeric(name: str) -> bool:
        return name in table.columns and pd.api.types.is_numeric_dtype(table[name])

    for name in _FRACTIONS:
        if numeric(name) and ((table[name] < 0) | (table[name] > 1)).any():
            shown = table.loc[(table[name] < 0) | (table[name] > 1), name].head(3).tolist()
            problems.append(f"`{name}`: must lie in [0, 1], got e.g. {shown}")
    for name in _NON_NEGATIVE:
        if numeric(name) and (table[name] < 0).any():
            shown = table.loc[table[name] < 0, name].head(3).tolist()
            problems.append(f"`{name}`: must be >= 0, got e.g. {shown}")
    for name in _POSITIVE:
        if numeric(name) and (table[name] <= 0).any():
            shown = table.loc[table[name] <= 0, name].head(3).tolist()
            problems.append(f"`{name}`: must be > 0, got e.g. {shown}")
    if numeric("n_attacked") and numeric("n_val"):
        over = table["n_attacked"] > table["n_val"]
        if over.any():
            problems.append(f"`n_attacked` exceeds `n_val` in {int(over.sum())} row(s)")
    return problems


def read_table(path: str | Path) -> pd.DataFrame:
    """Read an attacks table from ``.csv`` or ``.parquet`` and validate it.

    String columns are read as strings, so size names such as ``1`` or ``7`` and an empty
    ``training_attack`` survive the CSV round trip.
    """
    path = Path(path)
    if path.suffix not in (".csv", ".parquet"):
        raise TableError(f"{path}: unknown table format {path.suffix!r}; use .csv or .parquet")
    if not path.is_file():
        raise TableError(f"{path}: no such attacks table")
    try:
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, dtype={name: str for name in _STRING}, keep_default_na=False)
    except (ValueError, OSError) as error:  # pandas and pyarrow parse errors are ValueErrors
        raise TableError(f"{path}: not a readable attacks table ({error})") from None
    try:
        return validate_table(table)
    except TableError as error:
        raise TableError(f"{path}: {error}") from None


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    """Write any DataFrame as ``.csv`` or ``.parquet``, atomically, without the index."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        elif path.suffix == ".csv":
            table.to_csv(tmp, index=False)
        else:
            raise TableError(f"{path}: unknown table format {path.suffix!r}; use .csv or .parquet")
