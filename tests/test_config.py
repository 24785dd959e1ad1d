"""Config validation: every shipped study validates; each bad input gets one clear message."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import REPO, SCHEMA
from robustness_scaling.config import ConfigError, attack_evaluation, cells, validate_config

STUDIES = ["config.yaml", "config/smoke.yaml", "config/paper-pythia.yaml", "config/paper-qwen.yaml"]


def _load(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


@pytest.mark.parametrize("name", STUDIES)
def test_shipped_studies_validate(name):
    config = validate_config(_load(name), SCHEMA)
    assert cells(config)


def test_defaults_are_filled_with_the_paper_values():
    config = validate_config(
        {"family": "pythia", "sizes": ["14m"], "tasks": ["spam"], "seeds": [0]}, SCHEMA
    )
    finetune = config["finetune"]
    assert finetune["optimizer"] == "adafactor" and finetune["learning_rate"] == 1e-5
    assert finetune["epochs"] == 3 and finetune["batch_size"] == 8
    assert finetune["n_train"] == 20000 and finetune["n_val"] == 200
    assert config["task_settings"]["spam"]["include_instructions"] is True
    assert config["runtime"] == {"device": "auto", "dtype": "float32", "autocast": "auto"}


def test_paper_qwen_runs_7b_and_14b_on_spam_harmless_and_strongreject_only():
    config = validate_config(_load("config/paper-qwen.yaml"), SCHEMA)
    big = {(size, task) for size, task, _ in cells(config) if size in ("7B", "14B")}
    assert {task for _, task in big} == {"spam", "harmless", "strongreject"}
    assert config["task_settings"]["strongreject"]["finetune"] is False


def _error(mutate) -> str:
    config = copy.deepcopy(_load("config.yaml"))
    mutate(config)
    with pytest.raises(ConfigError) as caught:
        validate_config(config, SCHEMA)
    return str(caught.value)


def test_unknown_key_names_it_and_the_allowed_keys():
    message = _error(lambda c: c["finetune"].update(lr=0.1))
    assert (
        "`finetune`: unknown key(s) ['lr']; allowed: activation_checkpointing, batch_size,"
        in message
    )
    assert "learning_rate" in message


def test_unknown_top_level_key():
    message = _error(lambda c: c.update(sezes=["12k"]))
    expected = (
        "`(top level)`: unknown key(s) ['sezes']; allowed: adversarial_training, attack_jobs, "
        "attacks,"
    )
    assert expected in message


def test_an_unknown_way_of_splitting_attacks_into_jobs_is_refused():
    message = _error(lambda c: c.update(attack_jobs="per_task"))
    assert "`attack_jobs`: 'per_task' is not allowed; allowed: 'per_attack', 'per_model'" in message


def test_wrong_type_names_the_key():
    message = _error(lambda c: c["finetune"].update(epochs="two"))
    assert "`finetune.epochs`: 'two' is not of type 'number'" in message


def test_bad_enum_lists_the_choices():
    message = _error(lambda c: c["finetune"].update(optimizer="adam"))
    assert (
        "`finetune.optimizer`: 'adam' is not allowed; allowed: 'adafactor', 'adamw', 'sgd'"
        in message
    )


def test_empty_list():
    assert "`seeds`: [] should be non-empty" in _error(lambda c: c.update(seeds=[]))


def test_unknown_task_family_and_size():
    message = _error(lambda c: c.update(tasks=["spamm"]))
    assert (
        "`tasks`: unknown name(s) ['spamm']; allowed: password_match, word_length, spam" in message
    )
    message = _error(lambda c: c.update(family="gpt5"))
    assert "`family`: unknown family 'gpt5'; allowed: pythia, qwen2.5, tiny" in message
    message = _error(lambda c: c.update(sizes=["1b"]))
    assert "`sizes`: unknown name(s) ['1b']; allowed: 12k, 42k, 183k, 859k" in message
    message = _error(lambda c: c.update(family="pythia", sizes=["13m"]))
    assert "`sizes`: unknown name(s) ['13m']; allowed: 14m, 31m" in message


def test_all_problems_in_one_message():
    def mutate(config):
        config["seeds"] = []
        config["runtime"]["dtype"] = "float64"

    message = _error(mutate)
    assert message.startswith("invalid study config:\n")
    assert "`seeds`" in message and "`runtime.dtype`" in message


def test_autocast_is_auto_float32_or_bfloat16():
    message = _error(lambda c: c["runtime"].update(autocast="float16"))
    expected = (
        "`runtime.autocast`: 'float16' is not allowed; allowed: 'auto', 'float32', 'bfloat16'"
    )
    assert expected in message


def test_batch_size_must_be_a_multiple_of_minibatch():
    message = _error(lambda c: c["finetune"].update(batch_size=30, minibatch_size=8))
    assert (
        "`finetune.batch_size`: 30 must be a multiple of `finetune.minibatch_size` (8)" in message
    )


def test_tiny_family_needs_sizes():
    message = _error(lambda c: c["tiny"].pop("sizes"))
    assert "`tiny.sizes`: the tiny family needs its sizes defined under `tiny.sizes`" in message


def test_unknown_attack_method_and_option():
    message = _error(lambda c: c["attacks"].update(pgd={"budgets": [1]}))
    assert "`attacks.pgd`: unknown attack method 'pgd'; name the entry after one, or set" in message
    assert "gcg, random_token, beast" in message
    message = _error(lambda c: c["attacks"]["gcg"].update(options={"topk": 5}))
    assert "`attacks.gcg.options`: unknown option(s) ['topk']; allowed: seed, batch_size" in message


def test_attack_budgets_must_be_positive():
    message = _error(lambda c: c["attacks"]["gcg"].update(budgets=[0, 5]))
    assert "`attacks.gcg.budgets.0`: 0 is less than the minimum of 1" in message


def test_attack_method_defaults_to_its_name():
    config = validate_config(_load("config.yaml"), SCHEMA)
    assert config["attacks"]["gcg"]["method"] == "gcg"
    assert config["attacks"]["gcg"]["n_val"] == 50


def test_generation_settings_on_a_classification_task():
    message = _error(lambda c: c["task_settings"]["word_length"].update(max_new_tokens=4))
    assert (
        "`task_settings.word_length`: ['max_new_tokens'] only apply to generation tasks "
        "(password_match_generation, strongreject)" in message
    )


def test_judge_settings_are_checked():
    message = _error(
        lambda c: c["task_settings"]["password_match_generation"].update(
            judge={"type": "refusal", "match": "contains"}
        )
    )
    assert (
        "`task_settings.password_match_generation.judge`: ['match'] do not apply to a refusal "
        "judge; allowed: phrases, type" in message
    )
    message = _error(
        lambda c: c["task_settings"]["password_match_generation"].update(judge={"type": "llm"})
    )
    assert "an llm judge needs `model` (hub name or path)" in message


def test_attack_tasks_must_be_study_tasks():
    message = _error(lambda c: c["attacks"]["gcg"].update(tasks=["password_match", "imdb"]))
    assert "`attacks.gcg.tasks`: unknown name(s) ['imdb']; allowed: password_match," in message


def test_a_task_evaluated_as_it_comes_runs_one_seed():
    config = validate_config(_load("config/paper-qwen.yaml"), SCHEMA)
    seeds = {seed for size, task, seed in cells(config) if task == "strongreject"}
    assert seeds == {0} and {seed for _, task, seed in cells(config) if task == "spam"} == {0, 1, 2}


def test_tiny_family_takes_no_task_model_source():
    message = _error(
        lambda c: c["task_settings"]["password_match_generation"].update(model_source="/m/{size}")
    )
    assert (
        "`task_settings.password_match_generation.model_source`: the tiny family's victims are "
        "its own pretrained models" in message
    )


def test_the_paper_configs_run_the_papers_evaluations():
    """Finetuned models: GCG 10 iterations on 200 examples, RandomToken 1280 on 200, BEAST 25
    on 500; trained rounds: GCG 128 on 500 (also at the infix and prefix of suffix tasks);
    Qwen: BEAST on trained Harmless only, StrongREJECT GCG 128 on its 313 prompts."""
    pythia = validate_config(_load("config/paper-pythia.yaml"), SCHEMA)["attacks"]

    def run(attacks, name, task, trained):
        settings = attack_evaluation(attacks[name], task, trained)
        return None if settings is None else (settings["budgets"], settings["n_val"])

    assert run(pythia, "gcg", "spam", False) == ([10], 200)
    assert run(pythia, "gcg", "spam", True) == ([128], 500)
    assert run(pythia, "random_token", "imdb", False) == ([1280], 200)
    assert run(pythia, "random_token", "imdb", True) is None
    assert run(pythia, "beast", "word_length", False) == ([25], 500)
    assert run(pythia, "beast", "word_length", True) is None
    assert run(pythia, "gcg_infix90", "spam", False) is None
    assert run(pythia, "gcg_prefix", "harmless", True) == ([128], 500)
    assert run(pythia, "gcg_prefix", "password_match", True) is None
    qwen = validate_config(_load("config/paper-qwen.yaml"), SCHEMA)["attacks"]
    assert run(qwen, "gcg", "strongreject", False) == ([128], 313)
    assert run(qwen, "gcg", "imdb", False) == ([10], 200)
    assert run(qwen, "beast", "harmless", True) == ([25], 500)
    assert run(qwen, "beast", "spam", True) is None
    assert run(qwen, "beast", "strongreject", False) is None


def test_overrides_replace_settings_and_merge_options():
    attack = {
        "method": "gcg",
        "budgets": [2],
        "n_val": 8,
        "options": {"top_k": 16, "seed": 1},
        "rounds": "all",
        "per_task": {"word_length": {"budgets": [3], "options": {"top_k": 8}}},
        "trained": {"n_val": 4, "options": {"seed": 2}},
    }
    assert attack_evaluation(attack, "password_match", False) == {
        "method": "gcg",
        "budgets": [2],
        "n_val": 8,
        "options": {"top_k": 16, "seed": 1},
    }
    assert attack_evaluation(attack, "word_length", True) == {
        "method": "gcg",
        "budgets": [3],
        "n_val": 4,
        "options": {"top_k": 8, "seed": 2},
    }


def test_attack_overrides_that_could_never_apply_are_refused():
    def trained_on_finetuned_only(c):
        c["attacks"]["gcg"].update(rounds="finetuned", trained={"n_val": 10})

    message = _error(trained_on_finetuned_only)
    assert "`attacks.gcg.trained`: the entry attacks finetuned models only" in message
    message = _error(lambda c: c["attacks"]["beast"].update(per_task={"spam": {"n_val": 9}}))
    assert "`attacks.beast.per_task`: unknown name(s) ['spam']; allowed:" in message
    message = _error(lambda c: c["attacks"]["gcg"].update(trained={"options": {"topk": 3}}))
    assert "`attacks.gcg.trained.options`: unknown option(s) ['topk']" in message
    message = _error(lambda c: c["attacks"]["gcg"].update(trained={"tasks": ["spam"]}))
    assert "`attacks.gcg.trained.tasks`: unknown name(s) ['spam']" in message

    def without_adversarial_training(c):
        del c["adversarial_training"]
        c["attacks"]["gcg"].update(rounds="trained")

    message = _error(without_adversarial_training)
    assert "`attacks.gcg.rounds`: the study has no adversarial training" in message
    message = _error(lambda c: c["attacks"]["gcg"].update(rounds="trianed"))
    assert "`attacks.gcg.rounds`: 'trianed' is not allowed; allowed: 'all', 'finetuned'" in message


def test_shuffle_applies_to_loaded_tasks_only():
    message = _error(lambda c: c["task_settings"]["password_match"].update(shuffle=True))
    assert "`task_settings.password_match.shuffle`: synthetic tasks are always shuffled" in message


def test_per_size_resources_name_sizes_of_the_study_and_sized_stages_only():
    message = _error(
        lambda c: c["resources"].setdefault("finetune", {}).update(by_size={"99m": {"gpu": 4}})
    )
    assert "`resources.finetune.by_size`: unknown name(s) ['99m']; allowed: 12k," in message
    message = _error(
        lambda c: c["resources"].setdefault("data", {}).update(by_size={"12k": {"mem_mb": 9}})
    )
    assert "`resources.data.by_size`: data jobs have no model size" in message
    message = _error(
        lambda c: c["resources"].setdefault("attack", {}).update(by_size={"12k": {"by_size": {}}})
    )
    assert "resources.attack.by_size.12k" in message and "by_size" in message


def _set(*keys_and_value):
    """A mutation setting one nested key (the path, then the value) of a study config."""
    *path, key, value = keys_and_value

    def mutate(config):
        node = config
        for part in path:
            node = node.setdefault(part, {})
        node[key] = value

    return mutate


BAD_VALUES = {
    "negative candidates": (
        _set("attacks", "gcg", "options", "n_candidates", -1),
        "`attacks.gcg.options.n_candidates`: -1 is below its minimum 1",
    ),
    "no attack tokens": (
        _set("attacks", "random_token", "options", "n_attack_tokens", 0),
        "`attacks.random_token.options.n_attack_tokens`: 0 is below its minimum 1",
    ),
    "top_k beyond the vocabulary": (
        _set("attacks", "gcg", "options", "top_k", 100000),
        "`attacks.gcg.options.top_k`: 100000 is more tokens than the vocabulary has (512); "
        "allowed: 1 to 512",
    ),
    "an option of the wrong type": (
        _set("adversarial_training", "attack_options", "top_k", "many"),
        "`adversarial_training.attack_options.top_k`: 'many' is not of type int (default 256)",
    ),
    "a boolean for a count": (
        _set("attacks", "beast", "options", "beam_width", True),
        "`attacks.beast.options.beam_width`: True is not of type int (default 7)",
    ),
    "heads that do not divide the width": (
        _set("tiny", "sizes", "42k", "num_heads", 3),
        "`tiny.sizes.42k`: num_heads 3 does not divide hidden_size 32",
    ),
    "more validation rows than generated": (
        _set("task_settings", "word_length", "val_size", 500),
        "`finetune.n_val`: 1000 rows asked for, but `task_settings.word_length.val_size` "
        "generates 500; allowed: at most 500",
    ),
    "an attack's rows beyond the split": (
        lambda c: [
            _set("task_settings", "password_match", "val_size", 1000)(c),
            _set("attacks", "gcg", "n_val", 1200)(c),
        ],
        "`attacks.gcg.n_val (password_match)`: 1200 rows asked for, but "
        "`task_settings.password_match.val_size` generates 1000",
    ),
    "an evaluation round beyond every size's last": (
        _set("adversarial_training", "eval_rounds", [0, 99]),
        "`adversarial_training.eval_rounds`: [99] beyond the study's last round (12); "
        "allowed: 0 to 12",
    ),
    "files for a synthetic task": (
        _set("task_settings", "password_match", "files", {"validation": "/nonexistent/val.jsonl"}),
        "`task_settings.password_match`: ['files'] apply to loaded (hub or local) tasks; "
        "password_match is synthetic",
    ),
    "a loaded task's missing train split": (
        lambda c: [
            c["tasks"].append("spam"),
            _set("task_settings", "spam", "files", {"validation": "spam/val.jsonl"})(c),
        ],
        "`task_settings.spam.files`: no `train` file, and spam is finetuned; name its training "
        "split there (it has ['validation'])",
    ),
    "a figure iteration no budget reaches": (
        _set("figures", "size_iterations", "beast", 50),
        "`figures.size_iterations.beast`: iteration 50 is beyond every budget of beast "
        "(largest 10); allowed: 0 to 10",
    ),
    "a task's figure iteration no budget reaches": (
        _set("figures", "defense_iterations", "word_length/gcg", 11),
        "`figures.defense_iterations.word_length/gcg`: iteration 11 is beyond every budget",
    ),
}


@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_value_no_job_could_use_is_refused_naming_key_value_and_what_is_allowed(case):
    mutate, expected = BAD_VALUES[case]
    message = _error(mutate)
    assert expected in message, message
    assert message.count("\n  - ") == 1  # one problem, one line
