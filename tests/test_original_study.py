"""The original study's cache_csvs/ import, on small synthetic files in its published format
(the header rows of its repository's files; never its data, which has no licence)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustness_scaling.analysis.metrics import (
    ATTACK_FRACTION,
    DEFENSE_FRACTION,
    size_slopes,
    with_compute_fractions,
)
from robustness_scaling.original_study import OriginalStudyError, import_cache_csvs, main

# The header rows of the original's files, verbatim: a finetuned Pythia evaluation (ian_106),
# an adversarially trained one (tom_007), a Qwen / BEAST one (tom_025b), a training file.
FINETUNED = (
    "asr,iteration,model_size,seed_idx,adv_training_round,model_idx,log_mean_prob,mean_log_prob,"
    "_step,flops_per_iteration,adversarial_eval_pre_attack_accuracy,"
    "adversarial_eval_n_correct_pre_attack,adversarial_eval_n_incorrect_pre_attack,"
    "adversarial_eval_n_examples,adversarial_eval_n_correct_post_attack,"
    "adversarial_eval_n_incorrect_post_attack,dataset_n_val,model_family,model_name_or_path,"
    "model_revision,evaluation_evaluation_attack_seed,run_name,run_id,run_state,run_created_at,"
    "num_params,post_attack_accuracy"
)
TRAINED = FINETUNED.replace("log_mean_prob,mean_log_prob,", "")
QWEN = (
    "iteration,asr,model_size,model_name,seed_idx,revision,adv_training_round,model_idx,_step,"
    "flops_per_iteration,adversarial_eval_pre_attack_accuracy,"
    "adversarial_eval_n_correct_pre_attack,adversarial_eval_n_incorrect_pre_attack,"
    "adversarial_eval_n_examples,adversarial_eval_n_correct_post_attack,"
    "adversarial_eval_n_incorrect_post_attack,dataset_n_val,model_family,model_name_or_path,"
    "model_revision,evaluation_evaluation_attack_seed,run_name,run_id,run_state,run_created_at,"
    "num_params,post_attack_accuracy"
)
TRAINING = (
    "_step,train_total_flops,adv_training_round,run_name,model_name_or_path,"
    "training_force_name_to_save,training_save_name,"
    "training_adversarial_skip_first_training_round,training_seed,run_id,run_state,"
    "run_created_at,num_params,model_idx,seed_idx,model_key,mean_train_total_flops,"
    "pretrain_compute,defense_flops_fraction_pretrain"
)
STRONGREJECT = (
    "_step,flops_per_iteration,adversarial_eval/pre_attack_accuracy,"
    "adversarial_eval/n_correct_pre_attack,adversarial_eval/n_incorrect_pre_attack,"
    "adversarial_eval/n_examples,asr,adversarial_eval/n_correct_post_attack,"
    "adversarial_eval/n_incorrect_post_attack,dataset_n_val,model_family,model_size,"
    "model_name_or_path,model_revision,evaluation_evaluation_attack_seed,iteration,run_id,"
    "run_state,run_created_at,adv_training_round,num_params,model_idx,seed_idx,"
    "post_attack_accuracy"
)
PYTHIA = {"14m": 7_629_056, "410m": 353_824_768, "12b": 11_586_560_000}
PYTHIA_GEN = {"14m": 7_628_800, "410m": 353_822_720, "12b": 11_586_549_760}
PYTHIA_D = 299_892_736_000
SLOPES = {"14m": 1.0, "410m": 0.7, "12b": 0.4}


def write(path: Path, header: str, rows: list[dict]) -> None:
    """A CSV with ``header``'s columns in its order; columns a row does not set stay empty."""
    columns = header.split(",")
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)


def evaluation_rows(
    name: str,
    size: str,
    n_params: int,
    seed: int,
    revision: str,
    iterations,
    slope: float,
    per_iteration: float,
    pretrain: float,
    n_val: int = 200,
) -> list[dict]:
    """A curve whose logit10 ASR rises exactly ``slope`` per decade of attack compute."""
    rows = []
    correct = int(0.9 * n_val)
    for it in iterations:
        fraction = it * per_iteration / pretrain
        asr = 0.0 if it == 0 else 1 / (1 + 10 ** -(1.0 + slope * math.log10(fraction)))
        rows.append(
            {
                "asr": asr,
                "iteration": it,
                "model_size": n_params,
                "num_params": n_params,
                "seed_idx": seed,
                "adv_training_round": int(revision.rsplit("-", 1)[-1]) if revision != "main" else 0,
                "model_idx": 0,  # a rank within the file, never read
                "flops_per_iteration": per_iteration,
                "adversarial_eval_pre_attack_accuracy": correct / n_val,
                "adversarial_eval_n_correct_pre_attack": float(correct),
                "adversarial_eval_n_examples": float(n_val),
                "dataset_n_val": n_val,
                "model_family": "qwen2.5" if "Qwen" in name else "pythia",
                "model_name_or_path": name,
                "model_name": name,
                "model_revision": revision,
                "revision": revision,
            }
        )
    return rows


@pytest.fixture
def cache_csvs(tmp_path) -> Path:
    root = tmp_path / "cache_csvs"
    finetuned = []
    for size, n in PYTHIA.items():
        pretrain = 6.0 * PYTHIA_GEN[size] * PYTHIA_D
        for seed in (0, 1):
            cost = 1e13 * n / 1e7 * (1 + 0.1 * seed)
            recorded = cost / 1.6 if size == "12b" else cost  # the 12b under-count
            finetuned += evaluation_rows(
                f"AlignmentResearch/robust_llm_pythia-{size}_clf_imdb_v-ian-079_s-{seed}",
                size,
                n,
                seed,
                "main",
                range(11),
                SLOPES[size],
                recorded,
                pretrain,
            )
    write(root / "evaluation/ian_106_gcg_pythia_imdb.csv", FINETUNED, finetuned)
    trained, training = [], []
    for seed in (0, 1):
        key = f"clf_imdb_pythia-14m_s-0_adv_tr_gcg_t-{seed}"
        for r in range(3):
            trained += evaluation_rows(
                f"AlignmentResearch/robust_llm_{key}",
                "14m",
                PYTHIA["14m"],
                seed,
                f"adv-training-round-{r}",
                range(5),
                0.8 - 0.1 * r,
                2e13,
                6.0 * PYTHIA_GEN["14m"] * PYTHIA_D,
                n_val=500,
            )
            training.append(
                {
                    "train_total_flops": r * 1e16 * (1 + seed),
                    "adv_training_round": r,
                    "model_key": key,
                    "training_adversarial_skip_first_training_round": True,
                }
            )
    training.append(dict(training[-1]))  # a resumed run logs its last round twice
    write(root / "evaluation/tom_007_eval_niki_152_gcg.csv", TRAINED, trained)
    write(root / "training/niki_152_adv_tr_gcg_imdb_small.csv", TRAINING, training)
    qwen_key = "oskar-024a_clf_harmless_Qwen2.5-0.5B_s-0_adv_tr_gcg_t-0"
    qwen = evaluation_rows(
        f"AlignmentResearch/robust_llm_{qwen_key}",
        "0.5B",
        494_034_560,
        0,
        "adv-training-round-0",
        range(4),
        0.5,
        3e14,
        6.0 * 494_032_768 * 18e12,
        n_val=500,
    )
    write(root / "evaluation/tom_025b_beast_eval_qwen25_adv_gcg_harmless.csv", QWEN, qwen)
    write(
        root / "training/oskar_024a_adv_tr_qwen25_gcg_harmless.csv",
        TRAINING,
        [{"train_total_flops": 6.7e16, "adv_training_round": 0, "model_key": qwen_key}],
    )
    write(root / "evaluation/ian_142a_gen_strongreject_gcg_qwen25.csv", STRONGREJECT, [{}])
    (root / "asr_ian_106_gcg_pythia_imdb.csv").write_text(
        "asr,iteration,model_size,seed_idx,adv_training_round,model_idx\n0.0,0,7629056,0,0,0\n"
    )
    return root


def test_a_cache_csvs_folder_becomes_an_attacks_table(cache_csvs):
    imported = import_cache_csvs(cache_csvs)
    table = imported.table
    assert set(table["family"]) == {"pythia", "qwen2.5"}
    curves = table.drop_duplicates(["size", "seed", "round", "attack", "training_attack"])
    assert len(curves) == 6 + 6 + 1
    finetuned = table[table["training_attack"] == ""]
    assert set(finetuned["size"]) == set(PYTHIA) and set(finetuned["task"]) == {"imdb"}
    assert set(finetuned["attack"] + "/" + finetuned["position"]) == {"gcg/suffix"}
    # BEAST evaluates GCG-trained Qwen: the file names both attacks, the evaluation is BEAST.
    beast = table[table["family"] == "qwen2.5"]
    assert set(beast["attack"]) == {"beast"} and set(beast["training_attack"]) == {"gcg"}
    assert set(beast["task"]) == {"harmless"}
    # That run trained in its round 0: evaluated after one round of training, our round 1.
    assert set(beast["round"]) == {1} and set(beast["defense_flops"]) == {6.7e16}
    assert sorted(imported.skipped)[0].startswith("asr_ian_106_gcg_pythia_imdb.csv: a legacy")
    assert any("ian_142a" in line and "StrongREJECT" in line for line in imported.skipped)


def test_the_papers_compute_conventions(cache_csvs):
    """Attack compute is iteration × the seed-averaged FLOPs per iteration, Pythia-12b's GCG
    records are corrected ×1.6 on IMDB, pretraining is 6·N_gen·D with the original's
    constants, and each round carries its training run's cumulative FLOPs."""
    table = with_compute_fractions(import_cache_csvs(cache_csvs).table)
    raw = pd.read_csv(cache_csvs / "evaluation/ian_106_gcg_pythia_imdb.csv")
    for size, n in PYTHIA.items():
        rows = raw[raw["model_size"] == n]
        mean_cost = rows.groupby("iteration")["flops_per_iteration"].mean().loc[10]
        factor = 1.6 if size == "12b" else 1.0
        expected = 10 * mean_cost * factor / (6 * PYTHIA_GEN[size] * PYTHIA_D)
        got = table[(table["size"] == size) & (table["iteration"] == 10)][ATTACK_FRACTION]
        assert np.allclose(got, expected, rtol=1e-12), size
    trained = table[(table["training_attack"] == "gcg") & (table["family"] == "pythia")]
    by_round = trained.groupby("round")[DEFENSE_FRACTION].first()
    pretrain = 6 * PYTHIA_GEN["14m"] * PYTHIA_D
    assert np.allclose(by_round.to_numpy(), [0.0, 1.5e16 / pretrain, 3e16 / pretrain])


def test_slopes_of_the_import_are_the_curves_slopes(cache_csvs):
    """The files' curves are straight with known slopes on the paper's axes; the analysis of
    the imported table finds them (as the paper's own results give its published slopes)."""
    table = import_cache_csvs(cache_csvs).table
    slopes = size_slopes(table[table["training_attack"] == ""]).set_index("size")["slope"]
    assert slopes.to_dict() == pytest.approx(SLOPES, rel=1e-9)


def test_qwen_pretraining_compute_can_keep_the_originals_swap(tmp_path):
    from robustness_scaling.original_study import pretrain_flops

    assert pretrain_flops("qwen2.5", "7B") == 6 * 7_615_616_512 * 10.5e12
    assert pretrain_flops("qwen2.5", "7B", as_published=True) == 6 * 3_085_938_688 * 10.5e12
    assert pretrain_flops("qwen2.5", "0.5B", as_published=True) == 6 * 494_032_768 * 18e12


def test_the_command_writes_the_table(cache_csvs, tmp_path, caplog):
    out = tmp_path / "original.csv"
    with caplog.at_level("INFO"):
        assert main([str(cache_csvs), str(out)]) == 0
    assert f"wrote {out}" in caplog.text and "skipped ian_142a" in caplog.text
    from robustness_scaling.analysis.tables import read_table

    assert len(read_table(out)) == len(import_cache_csvs(cache_csvs).table)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("no evaluation folder", "no evaluation/ folder; expected the original study's"),
        ("missing column", "ian_106_gcg_pythia_imdb.csv: missing column(s) flops_per_iteration"),
        ("no training file", "tom_007_eval_niki_152_gcg.csv: no training compute for 2"),
        ("a rerun beside the first", "both evaluate pythia/14m/imdb/0/0//gcg/suffix"),
        ("unknown model name", "model name 'robust_llm_bert_clf_imdb' names no known size"),
    ],
)
def test_bad_files_are_named(cache_csvs, damage, message):
    evaluation = cache_csvs / "evaluation/ian_106_gcg_pythia_imdb.csv"
    if damage == "no evaluation folder":
        for path in (cache_csvs / "evaluation").iterdir():
            path.unlink()
        (cache_csvs / "evaluation").rmdir()
    elif damage == "missing column":
        pd.read_csv(evaluation).drop(columns="flops_per_iteration").to_csv(evaluation, index=False)
    elif damage == "no training file":
        (cache_csvs / "training/niki_152_adv_tr_gcg_imdb_small.csv").unlink()
    elif damage == "a rerun beside the first":
        rerun = pd.read_csv(evaluation)
        rerun["asr"] *= 0.9
        rerun.to_csv(cache_csvs / "evaluation/ian_106a_gcg_pythia_imdb.csv", index=False)
    else:
        frame = pd.read_csv(evaluation)
        frame.loc[0, "model_name_or_path"] = "robust_llm_bert_clf_imdb"
        frame.to_csv(evaluation, index=False)
    with pytest.raises(OriginalStudyError) as error:
        import_cache_csvs(cache_csvs)
    assert message in str(error.value)
