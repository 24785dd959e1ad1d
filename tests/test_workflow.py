"""The real Snakemake on the smoke study, in a temporary folder."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from rescoring import (
    assert_record_is_true,
    greedy_answer,
    prompt_of,
    rescore_classifier,
    rescore_target,
)

from conftest import REPO
from robustness_scaling.figures import FIGURES
from robustness_scaling.splits import read_split
from robustness_scaling.tasks import Example, Placement, get_task, model_input

pytestmark = pytest.mark.workflow
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
# What any change to an attack cell reruns after it: the tables, the figures, the report's
# front page, the targets.
DOWNSTREAM = {"aggregate": 1, "metric_tables": 1, "plot": 1, "findings": 1, "all": 1}
WORKFLOW_FILES = ["Snakefile", "config.yaml", "config", "workflow", "profiles", "envs", "src"]


def snakemake(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [SNAKEMAKE, "--cores", "2", *args]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    if check and result.returncode:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def planned_jobs(folder: Path, configfile: str) -> dict[str, int]:
    """Rule name -> job count of a dry run (empty when there is nothing to do); the attack
    rules (one per set of attacks and ladders) count together as "attack": the smoke study runs
    every attack on a model in one job (`attack_jobs: per_model`)."""
    result = snakemake(folder, "-n", "--configfile", configfile)
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    jobs: dict[str, int] = {}
    for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M):
        name = "attack" if m[1].startswith(("attack_", "attacks_")) else m[1]
        jobs[name] = jobs.get(name, 0) + int(m[2])
    return jobs


def copy_workflow(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        else:
            shutil.copy(source, folder / name)
    return folder


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    folder = copy_workflow(tmp_path_factory.mktemp("smoke"))
    snakemake(folder, "--configfile", "config/smoke.yaml")
    return folder


def test_smoke_study_builds_every_stage(smoke):
    for task in ("password_match", "word_length"):
        for split in ("train", "validation"):
            assert (smoke / f"results/data/{task}/{split}.jsonl").stat().st_size > 0
    assert (smoke / "results/models/tiny/tokenizer/tokenizer.json").is_file()
    for size in ("tiny-a", "tiny-b"):
        pretrained = json.loads(
            (smoke / f"results/models/tiny/{size}/pretrained/metrics.json").read_text()
        )
        assert pretrained["pretrain_flops"] == 6 * pretrained["n_params_generative"] * 4 * 4 * 32
        for task in ("password_match", "word_length"):
            cell = smoke / f"results/models/tiny/{size}/{task}/seed0/round0"
            metrics = json.loads((cell / "metrics.json").read_text())
            assert metrics["pretrain_flops"] == pretrained["pretrain_flops"]
            assert metrics["n_val"] == 32 and metrics["steps"] == 16
            assert (cell / "model.safetensors").is_file() and (cell / "tokenizer.json").is_file()
            log = smoke / f"logs/finetune/tiny/{size}/{task}/seed0.log"
            assert "clean accuracy" in log.read_text()
    assert not (smoke / "results/.resume").exists()  # every job's folder removed, parents too


def test_smoke_study_attacks_every_model_at_every_budget(smoke):
    for size in ("tiny-a", "tiny-b"):
        for task in ("password_match", "word_length"):
            cell = smoke / f"results/attacks/tiny/{size}/{task}/seed0/round0"
            for attack, budgets in (("gcg", (1, 2)), ("random_token", (3,)), ("beast", (2,))):
                for budget in budgets:
                    records = pd.read_parquet(cell / f"{attack}/budget{budget}.parquet")
                    assert (cell / f"{attack}/budget{budget}.state.pt").is_file()
                    if len(records):
                        assert records["iteration"].max() == budget
                        assert (records["size"] == size).all() and (records["task"] == task).all()


def test_second_run_has_nothing_to_do(smoke):
    assert planned_jobs(smoke, "config/smoke.yaml") == {}


def _variant(smoke: Path, name: str, edit) -> str:
    config = yaml.safe_load((smoke / "config/smoke.yaml").read_text())
    edit(config)
    (smoke / f"config/{name}.yaml").write_text(yaml.safe_dump(config))
    return f"config/{name}.yaml"


def test_reordered_config_reruns_nothing(smoke):
    config = yaml.safe_load((smoke / "config/smoke.yaml").read_text())
    (smoke / "config/sorted.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
    assert planned_jobs(smoke, "config/sorted.yaml") == {}


def test_finetune_setting_reruns_only_finetuning(smoke):
    variant = _variant(smoke, "lr", lambda c: c["finetune"].update(learning_rate=0.01))
    assert planned_jobs(smoke, variant) == {
        "finetune": 6,
        "adversarial_round": 6,
        "attack": 8,
        **DOWNSTREAM,
    }


def test_pretrain_setting_reruns_pretraining_and_what_follows(smoke):
    variant = _variant(smoke, "steps", lambda c: c["tiny"]["pretrain"].update(steps=5))
    assert planned_jobs(smoke, variant) == {
        "pretrain": 2,
        "finetune": 6,
        "adversarial_round": 6,
        "attack": 8,
        **DOWNSTREAM,
    }


def test_attack_setting_reruns_only_the_attack_jobs(smoke):
    variant = _variant(smoke, "topk", lambda c: c["attacks"]["gcg"]["options"].update(top_k=8))
    assert planned_jobs(smoke, variant) == {"attack": 8, **DOWNSTREAM}


def test_generation_settings_rerun_only_what_they_change(smoke):
    def answer_length(config):
        config["task_settings"]["password_match_generation"]["max_new_tokens"] = 2

    def batch(config):
        config["task_settings"]["password_match_generation"]["generation_batch_size"] = 7

    def labels(config):
        config["task_settings"]["password_match_generation"]["attacked_labels"] = [0]

    # No data is rebuilt: the answer length reruns the task's finetuning (its accuracy is
    # judged) and its attack cells; the attacked labels only the attack cells.
    assert planned_jobs(smoke, _variant(smoke, "answers", answer_length)) == {
        "finetune": 2,
        "attack": 2,
        **DOWNSTREAM,
    }
    assert planned_jobs(smoke, _variant(smoke, "labels", labels)) == {"attack": 2, **DOWNSTREAM}
    assert planned_jobs(smoke, _variant(smoke, "batch", batch)) == {}


def test_how_a_job_runs_reruns_nothing(smoke):
    """The device is a job's runtime, not its settings (results record the device they ran on)."""

    def device(config):
        config["runtime"]["device"] = "cpu"

    assert planned_jobs(smoke, _variant(smoke, "device", device)) == {}


def test_a_larger_budget_computes_only_the_increment(smoke, tmp_path):
    """Adding a budget reruns each attack job (Snakemake deletes its outputs first), which
    restores GCG's budgets 1 and 2 and the other attacks' budgets from their stores, byte for
    byte, and attacks only GCG's third iteration. Planned for the whole study, run for a
    finetuned and a trained cell (every job does the same), in a copy, so the other tests
    keep the study as configured."""
    variant = _variant(smoke, "budget", lambda c: c["attacks"]["gcg"].update(budgets=[1, 2, 3]))
    assert planned_jobs(smoke, variant) == {"attack": 8, **DOWNSTREAM}
    folder = tmp_path / "copy"
    shutil.copytree(smoke, folder, symlinks=True)
    cells = ["tiny/tiny-a/password_match/seed0/round0", "tiny/tiny-b/word_length/seed0/round2"]
    made = {
        p: p.read_bytes()
        for cell in cells
        for p in folder.glob(f"results/attacks/{cell}/*/budget*.parquet")
    }
    assert len(made) == 2 * 4
    targets = [f"results/attacks/{cell}/gcg/budget3.parquet" for cell in cells]
    snakemake(folder, *targets, "--configfile", variant)
    assert {p: p.read_bytes() for p in made} == made
    for cell in cells:
        text = (folder / f"logs/attacks/{cell}/beast+gcg+random_token.log").read_text()
        assert "gcg budgets [1, 2] restored" in text
        assert "random_token budgets [3] restored" in text and "beast budgets [2] restored" in text
        assert "random_token iteration" not in text and "beast iteration" not in text
        if "gcg iteration" in text:  # a cell with no example to attack has no iterations
            assert "gcg iteration 3/3" in text and "gcg iteration 1/3" not in text


def test_more_rounds_compute_only_the_new_rounds(smoke):
    variant = _variant(
        smoke, "rounds", lambda c: c["adversarial_training"]["rounds"].update({"tiny-b": 3})
    )
    assert planned_jobs(smoke, variant) == {
        "adversarial_round": 2,
        "findings": 1,
        "all": 1,
    }  # the front page states them


def test_blocks_of_rounds_make_the_same_rounds_in_fewer_jobs(smoke, tmp_path):
    folder = tmp_path / "blocks"
    shutil.copytree(smoke, folder, symlinks=True)
    cells = [
        f"results/models/tiny/tiny-b/{task}/seed0" for task in ("password_match", "word_length")
    ]
    for cell in cells:
        for k in (1, 2):
            shutil.rmtree(folder / cell / f"round{k}")

    def blocks_of_two(config):
        config["adversarial_training"].update(rounds={"tiny-b": 2}, rounds_per_job=2)

    variant = _variant(folder, "blocks", blocks_of_two)
    result = snakemake(folder, *(f"{cell}/round2" for cell in cells), "--configfile", variant)
    assert re.search(r"^adversarial_rounds_1_to_2\s+2$", result.stdout + result.stderr, re.M)
    for cell in cells:
        log = (
            folder / f"logs/adversarial/{cell[len('results/models/') :]}/rounds1-2.log"
        ).read_text()
        assert "round 1: gcg" in log and "round 2: gcg" in log
        for k in (1, 2):
            for name in ("model.safetensors", "metrics.json", "pool.parquet"):
                made = (folder / cell / f"round{k}" / name).read_bytes()
                assert made == (smoke / cell / f"round{k}" / name).read_bytes(), (cell, k, name)

    def four_rounds(config):
        config["adversarial_training"].update(rounds={"tiny-b": 4}, rounds_per_job=2)

    planned = planned_jobs(folder, _variant(folder, "more_blocks", four_rounds))
    assert planned["adversarial_rounds_3_to_4"] == 2 and "adversarial_rounds_1_to_2" not in planned

    def uneven_rounds(config):
        config["adversarial_training"].update(rounds={"tiny-a": 3, "tiny-b": 4}, rounds_per_job=2)

    planned = planned_jobs(folder, _variant(folder, "uneven_blocks", uneven_rounds))
    rounds = {name: n for name, n in planned.items() if name.startswith("adversarial")}
    assert rounds == {
        "adversarial_rounds_1_to_2": 2,
        "adversarial_rounds_3_to_3": 2,
        "adversarial_rounds_3_to_4": 2,
    }


@pytest.mark.parametrize(
    ("method", "options"),
    [("beast", {"beam_width": 2, "branch_factor": 2}), ("random_token", {"n_attack_tokens": 3})],
)
def test_a_study_trained_with_beast_or_random_token_runs(smoke, tmp_path, method, options):
    folder = tmp_path / method
    shutil.copytree(smoke, folder, symlinks=True)

    def trained_with(config):
        config["adversarial_training"].update(
            attack_name=method, attack_method=method, attack_options=options
        )

    variant = _variant(folder, f"trained_{method}", trained_with)
    planned = planned_jobs(folder, variant)
    assert planned["adversarial_round"] == 6 and planned["attack"] > 0
    cell = folder / "results/models/tiny/tiny-a/password_match/seed0/round1"
    snakemake(folder, str(cell.relative_to(folder)), "--configfile", variant)
    metrics = json.loads((cell / "metrics.json").read_text())
    assert metrics["attack"] == method and metrics["attack_iterations"] >= 1
    pool = pd.read_parquet(cell / "pool.parquet")
    assert len(pool) == 4 and pool["attack_text"].str.len().gt(0).all()


def test_adversarial_rounds_chain_and_account_defense_compute(smoke):
    for task in ("password_match", "word_length"):
        cell = smoke / f"results/models/tiny/tiny-b/{task}/seed0"
        first = json.loads((cell / "round1/metrics.json").read_text())
        second = json.loads((cell / "round2/metrics.json").read_text())
        assert second["defense_flops_cumulative"] == pytest.approx(
            first["defense_flops_cumulative"]
            + second["training_flops"]
            + second["adversarial_generation_flops"]
        )
        assert (cell / "round2/pool.parquet").is_file()
        assert len(pd.read_parquet(cell / "round2/pool.parquet")) == 8
    table = pd.read_csv(smoke / "results/tables/attacks.csv")
    trained = table[table["round"] == 2]
    assert set(trained["size"]) == {"tiny-b"} and (trained["training_attack"] == "gcg").all()
    assert (trained["defense_flops"] > 0).all()
    assert (table.loc[table["round"] == 0, "defense_flops"] == 0).all()


def test_one_size_changed_reruns_only_that_size(smoke):
    variant = _variant(smoke, "size", lambda c: c["tiny"]["sizes"]["tiny-b"].update(num_layers=2))
    assert planned_jobs(smoke, variant) == {
        "pretrain": 1,
        "finetune": 3,
        "adversarial_round": 4,
        "attack": 5,
        **DOWNSTREAM,
    }


def test_generation_task_is_judged_on_what_the_model_writes(smoke):
    validation = read_split(smoke / "results/data/password_match_generation/validation.jsonl")
    for size in ("tiny-a", "tiny-b"):
        cell = smoke / f"results/models/tiny/{size}/password_match_generation/seed0"
        metrics = json.loads((cell / "round0/metrics.json").read_text())
        assert metrics["judge"] == "target-startswith" and metrics["n_params"] > 0
        assert not (cell / "round1").exists()  # adversarial training trains classifiers only
        attacked = smoke / f"results/attacks/tiny/{size}/password_match_generation/seed0/round0"
        for attack, budget in (("gcg", 2), ("random_token", 3), ("beast", 2)):
            records = pd.read_parquet(attacked / f"{attack}/budget{budget}.parquet")
            assert len(records) and (records["judge"] == "target-startswith").all()
            for row in records.itertuples():
                target = validation[row.example_id].proxy_gen_target
                assert row.success == row.generation.lstrip().startswith(target.lstrip())
    table = pd.read_csv(smoke / "results/tables/attacks.csv", keep_default_na=False)
    generation = table["task"] == "password_match_generation"
    assert generation.any() and (table.loc[generation, "judge"] == "target-startswith").all()
    assert (table.loc[~generation, "judge"] == "").all()


def _placement(task: str, position: str) -> Placement:
    if position == "chunk":
        return get_task(task).placement
    return Placement(position={"suffix": 1.0, "prefix": 0.0}.get(position, 0.9))


def test_every_attack_record_is_true_of_its_text(smoke):
    """Each record of every attack cell, re-scored from its text alone by a plain forward pass
    of the smoke model (and, on the generation task, a greedy answer written afresh)."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    checked = set()
    for cell in sorted((smoke / "results/attacks").glob("tiny/*/*/seed0/round*/*")):
        records = pd.concat(pd.read_parquet(p) for p in cell.glob("budget*.parquet"))
        records = records.drop_duplicates(["example_id", "iteration"])
        size, task, _, round_dir, attack = cell.parts[-5:]
        model_dir = smoke / f"results/models/tiny/{size}/{task}/seed0/{round_dir}"
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        validation = read_split(smoke / f"results/data/{task}/validation.jsonl")
        placement = _placement(task, records["position"].iloc[0])
        generative = get_task(task).is_generation
        model = AutoModelForCausalLM if generative else AutoModelForSequenceClassification
        model = model.from_pretrained(model_dir).eval()
        for row in records.itertuples():
            example = validation[row.example_id]
            where = f"{cell.relative_to(smoke)} example {row.example_id} iteration {row.iteration}"
            if not generative:
                rescored = rescore_classifier(
                    model, tokenizer, example, placement, row.attack_text, False
                )
                assert_record_is_true(row, rescored, where)
                continue
            rescored = rescore_target(model, tokenizer, example, placement, row.attack_text, False)
            assert abs(row.loss - rescored.loss) <= 1e-4 * abs(rescored.loss), where
            answer = greedy_answer(model, tokenizer, example, placement, row.attack_text, False, 3)
            assert row.generation == answer, where
            success = answer.lstrip().startswith(example.proxy_gen_target.lstrip())
            correct = answer.lstrip().startswith(example.gen_target.lstrip())
            assert row.success == success, where
            label = example.proxy_clf_label if success else example.clf_label if correct else -1
            assert row.predicted_label == label, where
        checked.add((task, attack))
    assert {a for _, a in checked} == {"gcg", "random_token", "beast"}
    assert {t for t, _ in checked} == {"password_match", "word_length", "password_match_generation"}


def test_adversarial_training_trains_on_the_text_that_was_attacked(smoke):
    """Every pool row is its clean training example with the attack text in the slot, and its
    recorded attack success and loss are those of that text on the model it attacked."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    rounds = 0
    for task in ("password_match", "word_length"):
        train = read_split(smoke / f"results/data/{task}/train.jsonl")
        placement = get_task(task).placement
        cell = smoke / f"results/models/tiny/tiny-b/{task}/seed0"
        for k in (1, 2):
            pool = pd.read_parquet(cell / f"round{k}/pool.parquet")
            attacked_model = cell / f"round{k - 1}"
            tokenizer = AutoTokenizer.from_pretrained(attacked_model)
            model = AutoModelForSequenceClassification.from_pretrained(attacked_model).eval()
            for row in pool[pool["round_added"] == k].itertuples():
                clean = train[row.train_index]
                stored = Example.from_row(row._asdict())
                assert model_input(stored, False) == prompt_of(
                    clean, placement, row.attack_text, False
                )
                rescored = rescore_classifier(
                    model, tokenizer, clean, placement, row.attack_text, False
                )
                assert bool(row.attack_success) == rescored.success
                assert abs(row.attack_loss - rescored.loss) <= 1e-4 * max(abs(rescored.loss), 1e-3)
            rounds += 1
    assert rounds == 4


def test_every_result_says_how_it_was_made(smoke):
    """Every model's metrics.json and every attacks-table row record the precision (here the
    smoke study's explicit float32), the device and the versions that made them."""
    import torch

    models = list((smoke / "results/models/tiny").glob("*/pretrained"))
    models += list((smoke / "results/models/tiny").glob("*/*/seed0/round*"))
    assert len(models) > 10
    for model in models:
        made = json.loads((model / "metrics.json").read_text())["provenance"]
        assert made == {
            "precision": "float32",
            "device": "cpu",
            "torch": torch.__version__,
            "transformers": made["transformers"],
        }, model
    table = pd.read_csv(smoke / "results/tables/attacks.csv")
    assert (table["precision"] == "float32").all()
    records = pd.read_parquet(next((smoke / "results/attacks").rglob("budget*.parquet")))
    assert (records["precision"] == "float32").all() and (records["device"] == "cpu").all()


def test_every_json_file_the_workflow_writes_is_strict_json(smoke):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    files = sorted((smoke / "results").rglob("*.json"))
    assert len(files) > 10
    for path in files:
        json.loads(path.read_text(), parse_constant=refuse)


def test_smoke_study_ends_with_tables_and_every_figure(smoke):
    table = pd.read_csv(smoke / "results/tables/attacks.csv")
    assert set(table["size"]) == {"tiny-a", "tiny-b"}
    assert set(table["attack"]) <= {"gcg", "random_token", "beast"}
    assert (table.loc[table["iteration"] == 0, "asr"] == 0).all()
    for name in ("slopes", "offense_defense"):
        assert (smoke / f"results/tables/{name}.csv").is_file()
    for name in FIGURES:
        for suffix in ("png", "pdf"):
            assert (smoke / f"results/figures/tiny/{name}.{suffix}").stat().st_size > 1000


def test_report_builds_with_every_figure(smoke):
    """It opens with the findings job's front page: the study's settings, then the findings."""
    front = (smoke / "results/report/front.rst").read_text()
    assert "tiny-a, tiny-b" in front and "4. Offense vs defense" in front
    snakemake(smoke, "--configfile", "config/smoke.yaml", "--report", "report.html")
    html = (smoke / "report.html").read_text()
    assert "Headline findings, measured on this run" in html
    html = (smoke / "report.html").read_text(errors="ignore")
    assert all(name in html for name in FIGURES)


def _with_edited(smoke: Path, module: str, edit) -> dict[str, int]:
    """Rule name -> planned jobs (attack rules by their own names) with a library module
    edited; the module is restored afterwards."""
    path = smoke / "src/robustness_scaling" / module
    original = path.read_text()
    path.write_text(edit(original))
    try:
        result = snakemake(smoke, "-n", "--configfile", "config/smoke.yaml")
    finally:
        path.write_text(original)
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_plotting_code_change_reruns_only_plotting(smoke):
    planned = _with_edited(smoke, "figures/style.py", lambda text: text + "\nEDITED = 1\n")
    assert planned == {"plot": 1, "findings": 1, "all": 1}  # the findings use its labels


def test_an_attack_methods_code_reruns_only_the_jobs_that_run_it(smoke):
    """Here every attack job runs BEAST (`attack_jobs: per_model`); with one job per attack,
    only BEAST's would rerun (their code fingerprints: tests/test_fingerprint.py)."""
    planned = _with_edited(smoke, "attacks/beast.py", lambda text: text + "\nEDITED = 1\n")
    assert planned == {"attacks_finetuned": 6, "attacks_trained": 2, **DOWNSTREAM}


def test_a_judge_edit_reruns_only_the_generation_tasks_jobs(smoke):
    planned = _with_edited(smoke, "generative/judges.py", lambda text: text + "\nEDITED = 1\n")
    assert planned.pop("finetune") == 2  # the generation task's two sizes
    assert planned == {"attacks_finetuned": 2, **DOWNSTREAM}  # on their finetuned models


def test_comments_and_docstrings_rerun_nothing(smoke):
    def reworded(text):
        return text.replace('"""', '"""Reworded. ', 1) + "\n# a comment\n"

    assert _with_edited(smoke, "tasks/base.py", reworded) == {}


def test_figures_target_plots_from_the_table_alone(smoke, tmp_path):
    """A table of two families (the smoke study's and a copy renamed) and a reference table:
    refused until `figures.families` names both, then one figure of each type per family,
    with the reference drawn, and the named config's options."""
    folder = copy_workflow(tmp_path / "figures-only")
    (folder / "results/tables").mkdir(parents=True)
    own = pd.read_csv(smoke / "results/tables/attacks.csv", dtype={"size": str})
    both = pd.concat([own, own.assign(family="tiny2")], ignore_index=True)
    both.to_csv(folder / "results/tables/attacks.csv", index=False)
    own.to_csv(folder / "reference.csv", index=False)
    refused = snakemake(folder, "figures", "--configfile", "config/smoke.yaml", check=False)
    assert refused.returncode != 0
    assert (
        "results/tables/attacks.csv holds rows of tiny2, not among the families to draw (tiny)"
        in refused.stderr
    )
    (folder / "figures.yaml").write_text(
        yaml.safe_dump({"figures": {"families": ["tiny", "tiny2"], "reference": "reference.csv"}})
    )
    result = snakemake(folder, "figures", "--configfile", "config/smoke.yaml", "figures.yaml")
    assert "rule attack" not in result.stderr and "rule finetune" not in result.stderr
    for family in ("tiny", "tiny2"):
        for name in FIGURES:
            assert (folder / f"results/figures/{family}/{name}.png").is_file()
    assert not (folder / "results/models").exists()
    log = (folder / "logs/plot.log").read_text()
    assert "reference reference.csv: drawing its tiny rows dashed" in log
    # The options are the named config's (smoke.yaml: the schema's @128 for trained models).
    reads = {
        line.split(" reads ")[0].split()[-1]: line.split(" reads ")[1]
        for line in log.splitlines()
        if " reads " in line
    }
    assert "password_match/gcg @10" in reads["robustness_vs_size"]
    assert "password_match/gcg @128" in reads["adversarial_training"]


def test_bad_inputs_stop_at_planning_before_good_outputs_are_removed(smoke, tmp_path):
    """A table missing a column given to `snakemake figures`, and a truncated model under an
    attack cell that is forced to rerun: each stops the run while planning, with a message
    naming the file, and every output the run would have remade is still there, unchanged."""
    folder = tmp_path / "study"
    shutil.copytree(smoke, folder, symlinks=True)
    figures = {p: p.read_bytes() for p in (folder / "results/figures").rglob("*.png")}
    table = folder / "results/tables/attacks.csv"
    pd.read_csv(table).drop(columns=["asr"]).to_csv(table, index=False)
    result = snakemake(folder, "figures", "--configfile", "config/smoke.yaml", check=False)
    assert result.returncode != 0
    assert "results/tables/attacks.csv: invalid attacks table:" in result.stderr
    assert "missing column(s) ['asr']" in result.stderr and "Traceback" not in result.stderr
    assert {p: p.read_bytes() for p in (folder / "results/figures").rglob("*.png")} == figures

    cell = "results/attacks/tiny/tiny-a/password_match/seed0/round0/gcg/budget1.parquet"
    records = (folder / cell).read_bytes()
    weights = folder / "results/models/tiny/tiny-a/password_match/seed0/round0/model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])  # the header whole, the tensors cut short
    result = snakemake(folder, cell, "--force", "--configfile", "config/smoke.yaml", check=False)
    assert result.returncode != 0
    assert f"{weights.relative_to(folder)}: truncated safetensors file" in result.stderr
    assert "Remove results/models/tiny/tiny-a/password_match/seed0/round0 to have" in result.stderr
    assert (folder / cell).read_bytes() == records


def test_a_bad_data_file_stops_its_job_with_one_line_naming_file_row_and_column(tmp_path):
    folder = copy_workflow(tmp_path / "bad-data")
    rows = [{"content": f"mail {i}", "clf_label": i % 2} for i in range(4)]
    rows[2]["clf_label"] = "spam"
    (folder / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "val.jsonl").write_text(json.dumps(rows[0]) + "\n")
    config = yaml.safe_load((folder / "config/smoke.yaml").read_text())
    config["tasks"] = ["spam"]
    config["task_settings"]["spam"] = {"files": {"train": "train.jsonl", "validation": "val.jsonl"}}
    (folder / "config/bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(
        folder, "results/data/spam/train.jsonl", "--configfile", "config/bad.yaml", check=False
    )
    assert result.returncode != 0
    log = (folder / "logs/data/spam.log").read_text()
    assert "error: spam: train.jsonl: line 3, column 'clf_label': 'spam' is not a label" in log
    assert "Traceback" not in log and "Traceback" not in result.stderr
    assert not (folder / "results/data/spam/train.jsonl").exists()


def test_jobs_run_the_library_of_their_own_checkout(tmp_path):
    """The environment has another copy of the library installed (this repository's, editable);
    a job of a copied workflow runs the copy's code: an edit there changes what the job does.
    (Under `--software-deployment-method conda` the environment has no copy at all, and the
    scripts' path to the checkout's `src/` is the only one.)"""
    folder = copy_workflow(tmp_path / "other-checkout")
    job = folder / "src/robustness_scaling/jobs/task_data.py"
    marker = 'logger.info("this is the copied checkout\'s library")'
    source = job.read_text().replace(
        '        logger = get_logger("data", log)\n',
        f'        logger = get_logger("data", log)\n        {marker}\n',
    )
    assert marker in source
    job.write_text(source)
    snakemake(
        folder, "results/data/password_match/train.jsonl", "--configfile", "config/smoke.yaml"
    )
    assert (
        "this is the copied checkout's library"
        in (folder / "logs/data/password_match.log").read_text()
    )


def test_every_figure_has_a_report_caption():
    captions = {path.stem for path in (REPO / "workflow/report").glob("*.rst")}
    assert captions == set(FIGURES)


def test_bad_config_stops_before_any_job(tmp_path):
    folder = copy_workflow(tmp_path)
    config = yaml.safe_load((folder / "config/smoke.yaml").read_text())
    config["tasks"] = ["password_match", "spamm"]
    (folder / "config/bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(folder, "--configfile", "config/bad.yaml", check=False)
    assert result.returncode != 0
    assert "invalid study config" in result.stderr
    assert "`tasks`: unknown name(s) ['spamm']; allowed: password_match" in result.stderr
    assert not (folder / "results").exists()


def test_resources_can_differ_per_size(tmp_path):
    """`resources.<stage>.by_size` sets a size's jobs' requests (what a cluster profile asks
    SLURM for); the other sizes keep the stage's."""
    folder = copy_workflow(tmp_path)

    def bigger_b(config):
        config["resources"]["finetune"] = {
            "mem_mb": 1500,
            "by_size": {"tiny-b": {"mem_mb": 3333, "runtime": 77, "threads": 2, "gpu": 1}},
        }

    variant = _variant(folder, "sized", bigger_b)
    result = snakemake(folder, "-n", "--configfile", variant, "--resources", "gpu=1")
    blocks = [b for b in (result.stdout + result.stderr).split("\n\n") if "rule finetune:" in b]
    requests = {}
    for block in blocks:
        size = re.search(r"size=([\w-]+)", block)[1]
        resources = dict(re.findall(r"(\w+)=(\w+)", block.split("resources:")[1].split("\n")[0]))
        threads = re.search(r"threads: (\d+)", block)
        requests.setdefault(size, set()).add(
            (
                resources["mem_mb"],
                resources["runtime"],
                resources.get("gpu"),
                threads and threads[1],
            )
        )
    assert requests["tiny-b"] == {("3333", "77", "1", "2")}
    assert requests["tiny-a"] == {("1500", "10", "0", None)}  # the smoke study's default runtime
