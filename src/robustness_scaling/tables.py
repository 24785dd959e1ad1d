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
``synthetic_table`` makes a plausible table for tests and demos.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from robustness_scaling.atomic import atomic_path


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
    Column("clean_accuracy", "float64", "Pre-attack accuracy on the `n_val` validation examples."),
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


class TableError(ValueError):
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
    if path.suffix == ".parquet":
        table = pd.read_parquet(path)
    elif path.suffix == ".csv":
        table = pd.read_csv(path, dtype={name: str for name in _STRING}, keep_default_na=False)
    else:
        raise TableError(f"{path}: unknown table format {path.suffix!r}; use .csv or .parquet")
    return validate_table(table)


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


# --- a synthetic table -------------------------------------------------------------------------

PYTHIA_LIKE_SIZES: dict[str, int] = {
    "14m": 7_629_056,
    "70m": 44_672_000,
    "410m": 353_824_768,
    "1.4b": 1_311_629_312,
}
"""Default sizes of ``synthetic_table``: four Pythia classifier counts, 170× apart."""

_SYNTHETIC_ATTACKS: dict[str, tuple[str, int, float]] = {
    # attack: (position, iterations, FLOPs per example-iteration in units of N·T)
    "gcg": ("suffix", 32, 262.0),
    "random_token": ("suffix", 128, 2.0),
    "gcg_infix90": ("infix90", 32, 262.0),
}


def synthetic_table(
    sizes: Mapping[str, int] | None = None,
    tasks: Sequence[str] = ("password_match",),
    seeds: Sequence[int] = (0, 1, 2),
    rounds: int = 6,
    attacks: Mapping[str, tuple[str, int, float]] | None = None,
    training_attack: str = "gcg",
    n_val: int = 200,
    tokens_per_example: int = 100,
    pretrain_tokens: float = 20_000_000_000,
    random_state: int = 0,
) -> pd.DataFrame:
    """A plausible attacks table with the paper's qualitative trends, for tests and demos.

    Logit10 ASR grows linearly in log10 attack compute, larger models are more robust and
    attack scaling is slower for them, and every adversarial-training round lowers the ASR. ASR is
    drawn binomially over the attacked examples (so exact 0s and 1s occur, as in real runs), and
    FLOPs follow docs/method.md "Compute" (GCG ≈ 262·N·T per example-iteration, pretraining
    6·N·D). The
    default pretraining corpus is smaller than Pythia's 3e11 tokens so that a few rounds span
    the paper's defense budgets (1e-4 to 5e-3 of pretraining).

    ``rounds`` counts adversarial-training rounds after round 0; with ``rounds=0`` the table is a
    finetuning-only study (empty ``training_attack``). Round-0 rows are evaluated with every attack
    in ``attacks``; trained rounds likewise, so the table also has transfer evaluations (every
    attack other than ``training_attack``).
    """
    sizes = dict(PYTHIA_LIKE_SIZES if sizes is None else sizes)
    attacks = dict(_SYNTHETIC_ATTACKS if attacks is None else attacks)
    rng = np.random.default_rng(random_state)
    trained_by = training_attack if rounds > 0 else ""
    log_sizes = {size: math.log10(n) for size, n in sizes.items()}
    smallest = min(log_sizes.values())
    rows = []
    for task_index, task in enumerate(tasks):
        for size, n_params in sizes.items():
            depth = log_sizes[size] - smallest  # orders of magnitude above the smallest model
            pretrain = 6.0 * n_params * pretrain_tokens
            for seed in seeds:
                accuracy = min(0.99, 0.80 + 0.05 * depth + rng.normal(0, 0.01) - 0.02 * task_index)
                defense = 0.0
                for round_ in range(rounds + 1):
                    if round_ > 0:
                        # 200 examples attacked with a ramped GCG plus 1000 training examples
                        its = 8 + (64 - 8) * (round_ - 1) / max(1, rounds - 1)
                        per_round = (200 * its * 262 + 1000 * 6) * n_params * tokens_per_example
                        defense += per_round * (1 + rng.normal(0, 0.02))
                    defense_fraction = defense / pretrain
                    # adversarial training costs a little clean accuracy
                    n_attacked = int(round((accuracy - 0.004 * round_) * n_val))
                    for attack, (position, n_its, cost) in attacks.items():
                        per_iteration = cost * n_params * tokens_per_example
                        transfer = 0.0 if attack == trained_by else 0.4
                        # logit10 ASR = a + b·log10(attack fraction of pretraining)
                        b = max(0.15, 0.9 - 0.2 * depth) * (0.5 if cost < 10 else 1.0)
                        a = 3.0 - 1.2 * depth + 0.3 * task_index
                        shift = (1 - transfer) * 0.8 * math.log10(1 + defense_fraction / 1e-4)
                        a += rng.normal(0, 0.15) - shift
                        for iteration in range(n_its + 1):
                            total = iteration * per_iteration * n_attacked
                            if iteration == 0:
                                asr = 0.0
                            else:
                                logit = a + b * math.log10(total / pretrain)
                                p = 1.0 / (1.0 + 10.0 ** (-logit))
                                asr = rng.binomial(n_attacked, p) / n_attacked
                            rows.append(
                                {
                                    "family": "pythia",
                                    "size": size,
                                    "task": task,
                                    "seed": seed,
                                    "round": round_,
                                    "attack": attack,
                                    "position": position,
                                    "training_attack": trained_by,
                                    "judge": "",
                                    "precision": "float32",
                                    "iteration": iteration,
                                    "n_params": n_params,
                                    "pretrain_flops": pretrain,
                                    "clean_accuracy": n_attacked / n_val,
                                    "n_val": n_val,
                                    "n_attacked": n_attacked,
                                    "asr": asr,
                                    "attack_flops_per_example": iteration * per_iteration,
                                    "attack_flops": total,
                                    "judge_flops": 0.0,
                                    "defense_flops": defense,
                                }
                            )
    return validate_table(pd.DataFrame(rows, columns=list(COLUMN_NAMES)))
