"""The original study's published results as an attacks table in this project's schema.

The original code (AlignmentResearch/robust-llm-2024) ships its per-iteration evaluations as
``cache_csvs/evaluation/<group>.csv`` (one row per model × seed × iteration) and its
adversarial-training compute as ``cache_csvs/training/<group>.csv`` (cumulative training FLOPs
per model and round). ``import_cache_csvs`` turns such a folder into a table that
``robustness_scaling.figures`` draws and ``robustness_scaling.analysis`` analyses like this
project's own, e.g. dashed beside a study's curves (``figures.reference``)::

    python -m robustness_scaling.original_study path/to/cache_csvs original.csv

What is read from where, and the paper's conventions applied (docs/tables.md, "The original
study's results"):

- family, size, task, seeds, round and training attack from the columns (``model_family``,
  ``model_name_or_path``, ``seed_idx``, ``adv_training_round``); the evaluation attack and its
  position from the file name (``infix`` → ``gcg_infix90``, ``prefix`` → ``gcg_prefix``,
  ``beast``, ``_rt_`` → ``random_token``, else ``gcg``), as the original's own plotting does;
- attack compute ``iteration × flops_per_iteration`` (the whole attacked set per iteration),
  with the paper's corrections of Pythia-12b's multi-GPU FLOP records (GCG ×1.6 IMDB, ×1.78
  Spam, ×1.75 PasswordMatch);
- pretraining compute ``6 · N_gen · D`` with the original's constants (D = 299,892,736,000
  Pythia tokens; 18T for Qwen2.5-0.5B, 10.5T for the larger Qwen2.5), and the original's
  causal-LM parameter counts. The original's table swaps Qwen2.5-3B's and 7B's counts; we use
  the right ones unless ``as_published`` (which only moves those two sizes along compute axes:
  slopes do not change);
- defense compute: each evaluated round is matched to the cumulative training FLOPs of the same
  model (``model_key``) at the same round in the training files. Rounds are counted as here,
  after how many rounds of training: a run that trained in its round 0
  (``training_adversarial_skip_first_training_round`` false) has its rounds shifted by one.

Files this schema cannot hold are skipped and reported, never half read: the legacy flat
``asr_*.csv`` files (no model metadata), generation-task evaluations (StrongREJECT).
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from robustness_scaling.analysis.tables import (
    COLUMN_NAMES,
    CURVE_COLUMNS,
    KEY_COLUMNS,
    TableError,
    validate_table,
    write_table,
)
from robustness_scaling.errors import InputError

LOG = logging.getLogger("robustness_scaling.original_study")

PYTHIA_TOKENS = 299_892_736_000
QWEN_TOKENS = {"0.5B": 18e12, "1.5B": 10.5e12, "3B": 10.5e12, "7B": 10.5e12, "14B": 10.5e12}
# Causal-LM parameter counts the original computes pretraining compute from.
GENERATIVE_PARAMS: dict[str, dict[str, int]] = {
    "pythia": {
        "14m": 7_628_800,
        "31m": 17_616_896,
        "70m": 44_670_976,
        "160m": 123_689_472,
        "410m": 353_822_720,
        "1b": 908_759_040,
        "1.4b": 1_311_625_216,
        "2.8b": 2_646_430_720,
        "6.9b": 6_650_732_544,
        "12b": 11_586_549_760,
    },
    "qwen2.5": {
        "0.5B": 494_032_768,
        "1.5B": 1_543_714_304,
        "3B": 3_085_938_688,
        "7B": 7_615_616_512,
        "14B": 14_770_033_664,
    },
}
# The paper's empirical corrections of Pythia-12b's GCG FLOP records (multi-GPU under-count).
PYTHIA_12B_GCG_CORRECTION = {"imdb": 1.6, "spam": 1.78, "password_match": 1.75}
TASKS = {
    "imdb": "imdb",
    "spam": "spam",
    "pm": "password_match",
    "wl": "word_length",
    "helpful": "helpful",
    "harmless": "harmless",
}
CHUNK_TASKS = ("password_match", "word_length")  # their attack text fills the free chunk
TRAINING_ATTACKS = {"gcg": "gcg", "rt": "random_token", "beast": "beast"}

EVALUATION_COLUMNS = (
    "asr",
    "iteration",
    "model_size",
    "seed_idx",
    "adv_training_round",
    "flops_per_iteration",
    "adversarial_eval_pre_attack_accuracy",
    "adversarial_eval_n_correct_pre_attack",
    "dataset_n_val",
    "model_family",
    "model_name_or_path",
)
TRAINING_COLUMNS = ("train_total_flops", "adv_training_round", "model_key")

_SIZE = re.compile(r"(?:pythia-(\d+(?:\.\d+)?[mb])|Qwen2\.5-(\d+(?:\.\d+)?B))")
_TASK = re.compile(r"(?:^|_)clf_([a-z]+)(?:_|$)")
_TRAINED = re.compile(r"_adv_tr_([a-z]+)_t-\d+")


class OriginalStudyError(InputError):
    """A file of the original study's results that cannot be read as it claims to be."""


@dataclass
class Imported:
    """The table, and what was left out and why (one line per file or group of rows)."""

    table: pd.DataFrame
    skipped: list[str] = field(default_factory=list)


def evaluation_attack(stem: str, task: str) -> tuple[str, str]:
    """The evaluation attack's config name and position, from the file name, as the original's
    plotting reads it; BEAST before GCG, since a BEAST evaluation of GCG-trained models names
    both."""
    if "infix" in stem:
        return "gcg_infix90", "infix90"
    if "prefix" in stem:
        return "gcg_prefix", "prefix"
    name = "beast" if "beast" in stem else "random_token" if "_rt_" in stem else "gcg"
    return name, "chunk" if task in CHUNK_TASKS else "suffix"


def model_identity(name: str) -> tuple[str, str, str]:
    """(size, task, training attack) from a model's hub name or training ``model_key``
    (``robust_llm_pythia-14m_clf_imdb_v-ian-079_s-1``,
    ``clf_imdb_pythia-410m_s-0_adv_tr_gcg_t-1``); the training attack is empty for a
    finetuned model."""
    size, task = _SIZE.search(name), _TASK.search(name)
    if size is None or task is None or task.group(1) not in TASKS:
        raise OriginalStudyError(f"model name {name!r} names no known size and task")
    trained = _TRAINED.search(name)
    training_attack = "" if trained is None else TRAINING_ATTACKS.get(trained.group(1), "")
    if trained is not None and not training_attack:
        raise OriginalStudyError(f"model name {name!r}: unknown training attack")
    return size.group(1) or size.group(2), TASKS[task.group(1)], training_attack


def model_key(name: str) -> str:
    """The original's join key of an evaluated model and its training run."""
    return name.replace("AlignmentResearch/", "").replace("robust_llm_", "")


def pretrain_flops(family: str, size: str, as_published: bool = False) -> float:
    """``6 · N_gen · D`` with the original's constants (see the module docstring)."""
    counts = GENERATIVE_PARAMS[family]
    if family == "pythia":
        return 6.0 * counts[size] * PYTHIA_TOKENS
    swapped = {"3B": "7B", "7B": "3B"} if as_published else {}
    return 6.0 * counts[swapped.get(size, size)] * QWEN_TOKENS[size]


def read_csv(path: Path, required: Sequence[str]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise OriginalStudyError(f"{path}: not a readable CSV ({error})") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise OriginalStudyError(f"{path}: missing column(s) {', '.join(missing)}")
    return frame.loc[:, ~frame.columns.str.startswith("Unnamed:")]


def training_compute(paths: Iterable[Path]) -> pd.DataFrame:
    """Per trained model (``model_key``) and round: cumulative training FLOPs, and by how much
    its rounds shift to count rounds of training done (1 where the run trained in its round 0:
    its round-0 FLOPs are above zero, or, without a round-0 row, its config says it did not
    skip that round)."""
    frames = []
    for path in paths:
        frame = read_csv(path, TRAINING_COLUMNS)
        skip = frame.get("training_adversarial_skip_first_training_round")
        said_false = (
            pd.Series(False, index=frame.index)
            if skip is None
            else skip.astype(str).str.lower().eq("false")
        )
        frames.append(
            pd.DataFrame(
                {
                    "model_key": frame["model_key"].astype(str),
                    "adv_training_round": frame["adv_training_round"].astype(int),
                    "train_total_flops": frame["train_total_flops"].astype(float),
                    "said_false": said_false,
                }
            )
        )
    columns = ["model_key", "adv_training_round", "train_total_flops", "round_shift"]
    if not frames:
        return pd.DataFrame(columns=columns)
    rows = pd.concat(frames, ignore_index=True)
    # A resumed run logs a round more than once, with the same cumulative count.
    rows = rows.groupby(["model_key", "adv_training_round"], as_index=False).agg(
        train_total_flops=("train_total_flops", "max"), said_false=("said_false", "any")
    )
    first = rows[rows["adv_training_round"] == 0].set_index("model_key")["train_total_flops"]
    said = rows.groupby("model_key")["said_false"].any()
    trained_first = rows["model_key"].map(first > 0).fillna(rows["model_key"].map(said))
    rows["round_shift"] = trained_first.astype(bool).astype(int)
    return rows[columns]


def _evaluation(path: Path, training: pd.DataFrame, as_published: bool) -> pd.DataFrame:
    frame = read_csv(path, EVALUATION_COLUMNS)
    if frame.empty:
        raise OriginalStudyError(f"{path}: no rows")
    names = frame["model_name_or_path"].astype(str)
    identities = {name: model_identity(name) for name in names.unique()}
    size = names.map(lambda n: identities[n][0])
    task = names.map(lambda n: identities[n][1])
    training_attack = names.map(lambda n: identities[n][2])
    family = frame["model_family"].astype(str)
    unknown = sorted(set(family) - set(GENERATIVE_PARAMS))
    if unknown:
        raise OriginalStudyError(f"{path}: unknown model_family {', '.join(unknown)}")
    attack_position = task.map(lambda t: evaluation_attack(path.stem, t))
    attack = attack_position.map(lambda a: a[0])
    iteration = frame["iteration"].astype(int)
    flops_per_iteration = frame["flops_per_iteration"].astype(float)
    correction = np.where(
        (family == "pythia") & (size == "12b") & (attack == "gcg"),
        task.map(PYTHIA_12B_GCG_CORRECTION).fillna(1.0),
        1.0,
    )
    attack_flops = iteration * flops_per_iteration * correction
    n_attacked = frame["adversarial_eval_n_correct_pre_attack"].astype(float).round().astype(int)
    original_round = frame["adv_training_round"].astype(int)
    keys = pd.DataFrame({"model_key": names.map(model_key), "adv_training_round": original_round})
    trained = keys.merge(training, on=["model_key", "adv_training_round"], how="left")
    is_trained = (training_attack != "").to_numpy()
    unmatched = is_trained & trained["train_total_flops"].isna().to_numpy()
    if unmatched.any():
        models = sorted(set(keys.loc[unmatched, "model_key"]))
        raise OriginalStudyError(
            f"{path}: no training compute for {len(models)} adversarially trained model(s), "
            f"e.g. {models[0]} (round {int(keys.loc[unmatched, 'adv_training_round'].iloc[0])}):"
            " add their cache_csvs/training/ files"
        )
    shift = np.where(is_trained, trained["round_shift"].fillna(0), 0).astype(int)
    table = pd.DataFrame(
        {
            "family": family,
            "size": size,
            "task": task,
            "seed": frame["seed_idx"].astype(int),
            "round": original_round + shift,
            "attack": attack,
            "position": attack_position.map(lambda a: a[1]),
            "training_attack": training_attack,
            "judge": "",
            "precision": "float32",
            "iteration": iteration,
            "n_params": frame["model_size"].astype("int64"),
            "pretrain_flops": [
                pretrain_flops(f, s, as_published) for f, s in zip(family, size, strict=True)
            ],
            "clean_accuracy": frame["adversarial_eval_pre_attack_accuracy"].astype(float),
            "n_val": frame["dataset_n_val"].astype(int),
            "n_attacked": n_attacked,
            "asr": frame["asr"].astype(float),
            "attack_flops_per_example": attack_flops / n_attacked.clip(lower=1),
            "attack_flops": attack_flops,
            "judge_flops": 0.0,
            "defense_flops": np.where(is_trained, trained["train_total_flops"].fillna(0.0), 0.0),
        }
    )
    table = table.drop_duplicates()
    twice = table.duplicated(list(KEY_COLUMNS), keep=False)
    if twice.any():
        row = table[twice].iloc[0]
        raise OriginalStudyError(
            f"{path}: {int(twice.sum())} rows disagree on one evaluation, e.g. "
            f"{row['family']}-{row['size']} seed {row['seed']} "
            f"round {row['round']} iteration {row['iteration']}"
        )
    return table


def import_cache_csvs(folder: str | Path, as_published: bool = False) -> Imported:
    """The attacks table of a ``cache_csvs`` folder (``evaluation/`` and ``training/``)."""
    folder = Path(folder)
    evaluation_dir, training_dir = folder / "evaluation", folder / "training"
    if not evaluation_dir.is_dir():
        raise OriginalStudyError(
            f"{folder}: no evaluation/ folder; expected the original study's cache_csvs/ "
            "layout (evaluation/<group>.csv and training/<group>.csv)"
        )
    skipped = [
        f"{path.name}: a legacy flat file, without the model metadata to import it"
        for path in sorted(folder.glob("*.csv"))
    ]
    training = training_compute(sorted(training_dir.glob("*.csv")))
    tables, origin = [], {}
    for path in sorted(evaluation_dir.glob("*.csv")):
        header = pd.read_csv(path, nrows=0).columns
        if "model_family" in header and "adversarial_eval/n_examples" in header:
            skipped.append(f"{path.name}: a generation-task evaluation (StrongREJECT)")
            continue
        table = _evaluation(path, training, as_published)
        tables.append(table)
        origin[path.name] = table
    if not tables:
        raise OriginalStudyError(f"{evaluation_dir}: no evaluation file to import")
    table = pd.concat(tables, ignore_index=True)
    _refuse_collisions(origin)
    try:
        return Imported(validate_table(table[list(COLUMN_NAMES)]), skipped)
    except TableError as error:
        raise OriginalStudyError(
            f"{folder}: the imported rows are not a valid table: {error}"
        ) from None


def _refuse_collisions(origin: dict[str, pd.DataFrame]) -> None:
    """Two files evaluating the same model, attack and iteration (a rerun kept beside the
    first) cannot both be rows of one table: name them, rather than keep either silently."""
    key = ["family", "size", "task", "seed", "round", "training_attack", "attack", "position"]
    seen: dict[tuple, str] = {}
    for name, table in origin.items():
        for curve in table[key].drop_duplicates().itertuples(index=False, name=None):
            if curve in seen and seen[curve] != name:
                raise OriginalStudyError(
                    f"{seen[curve]} and {name} both evaluate {'/'.join(map(str, curve))}: "
                    "import a folder holding one of them"
                )
            seen[curve] = name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m robustness_scaling.original_study",
        description="Turn the original study's cache_csvs/ folder into an attacks table.",
    )
    parser.add_argument("folder", type=Path, help="a cache_csvs/ folder")
    parser.add_argument("out", type=Path, help="the table to write (.csv or .parquet)")
    parser.add_argument(
        "--as-published",
        action="store_true",
        help="keep the original's swapped Qwen2.5-3B/7B pretraining compute",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        imported = import_cache_csvs(args.folder, args.as_published)
    except OriginalStudyError as error:
        parser.exit(2, f"error: {error}\n")
    write_table(imported.table, args.out)
    table = imported.table
    LOG.info(
        "wrote %s: %d rows, %d curves of %s",
        args.out,
        len(table),
        len(table.drop_duplicates(list(CURVE_COLUMNS))),
        ", ".join(sorted(set(table["family"]))),
    )
    for line in imported.skipped:
        LOG.info("skipped %s", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
