"""The study's grid as pure functions of the config (the workflow and the cost plan share it)."""

from __future__ import annotations

import copy
from functools import cache

import pytest
import yaml

from conftest import REPO, SCHEMA
from robustness_scaling import grid
from robustness_scaling.config import validate_config


@cache
def _study(name: str) -> dict:
    return validate_config(yaml.safe_load((REPO / name).read_text()), SCHEMA)


def study(name: str) -> dict:
    """A fresh validated copy of a shipped study (tests may change it)."""
    return copy.deepcopy(_study(name))


def test_rounds_per_cell_follow_the_mapping_and_skip_what_is_not_trained():
    smoke = study("config/smoke.yaml")
    assert grid.rounds_of(smoke, "tiny-a", "password_match") == 1
    assert grid.rounds_of(smoke, "tiny-b", "word_length") == 2
    assert grid.rounds_of(smoke, "tiny-b", "password_match_generation") == 0  # a generator
    pythia = study("config/paper-pythia.yaml")
    assert grid.rounds_of(pythia, "160m", "spam") == 59
    assert grid.rounds_of(pythia, "6.9b", "spam") == 0  # left out of the mapping
    del smoke["adversarial_training"]
    assert grid.rounds_of(smoke, "tiny-b", "password_match") == 0


def test_the_rounds_times_params_rule_uses_the_sizes_parameter_counts():
    pythia = study("config/paper-pythia.yaml")
    pythia["adversarial_training"]["rounds"] = {"rounds_times_params": 7.3e9, "min": 5, "max": 60}
    assert grid.classifier_params_of(pythia, "410m") == 353_824_768
    assert grid.rounds_of(pythia, "410m", "imdb") == round(7.3e9 / 353_824_768)  # 21
    assert grid.rounds_of(pythia, "14m", "imdb") == 60  # clipped at max
    assert grid.rounds_of(pythia, "12b", "imdb") == 5  # clipped at min


def test_evaluated_rounds_are_geometric_or_the_listed_ones():
    pythia = study("config/paper-pythia.yaml")
    assert grid.eval_rounds_of(pythia, "14m", "spam") == [0, 1, 2, 3, 4, 6, 9, 15, 24, 38, 60]
    assert grid.eval_rounds_of(pythia, "12b", "spam") == [0]
    smoke = study("config/smoke.yaml")  # eval_rounds [0, 2]: tiny-a has one round only
    assert grid.eval_rounds_of(smoke, "tiny-a", "word_length") == [0]
    assert grid.eval_rounds_of(smoke, "tiny-b", "word_length") == [0, 2]


def test_attacks_and_budgets_differ_between_finetuned_and_trained_rounds():
    pythia = study("config/paper-pythia.yaml")
    assert grid.attacks_on(pythia, "spam", 0) == ["gcg", "random_token", "beast"]
    assert grid.attacks_on(pythia, "spam", 3) == ["gcg", "gcg_infix90", "gcg_prefix"]
    assert grid.attacks_on(pythia, "word_length", 3) == ["gcg"]
    assert grid.budgets(pythia, "gcg", "spam", 0) == [10]
    assert grid.budgets(pythia, "gcg", "spam", 3) == [128]
    assert grid.evaluation(pythia, "gcg", "spam", 3)["n_val"] == 500
    assert grid.evaluation(pythia, "random_token", "spam", 3) is None
    with pytest.raises(ValueError, match="does not attack"):
        grid.budgets(pythia, "random_token", "spam", 3)


def test_round_settings_resolve_the_ramp_and_leave_out_the_planning_keys():
    pythia = study("config/paper-pythia.yaml")
    settings = grid.round_settings(pythia, "410m", "spam")
    assert settings["ramp_rounds"] == 21  # unpinned: the size's last round
    assert not set(grid.PLANNING_KEYS) & set(settings)
    smoke = study("config/smoke.yaml")  # pinned at 2
    assert grid.round_settings(smoke, "tiny-a", "password_match")["ramp_rounds"] == 2


def test_round_jobs_tile_a_cells_rounds_in_blocks():
    pythia = study("config/paper-pythia.yaml")  # rounds_per_job 10
    assert grid.round_jobs(pythia, "160m", "spam") == [
        (1, 10),
        (11, 20),
        (21, 30),
        (31, 40),
        (41, 50),
        (51, 59),
    ]
    assert grid.round_jobs(pythia, "12b", "spam") == []
    blocks = grid.round_blocks(pythia)
    assert blocks[(51, 59)] == {"160m"} and blocks[(21, 21)] == {"410m"}
    assert blocks[(1, 10)] == {"14m", "31m", "70m", "160m", "410m"}


def test_attack_cells_are_the_workflows_attack_jobs():
    # snakemake -n --configfile config/smoke.yaml plans 6 + 6 + 6 attack jobs on finetuned
    # models and 2 + 2 + 2 on trained ones (tiny-b's round 2, two classification tasks).
    cells = grid.attack_cells(study("config/smoke.yaml"))
    assert len(cells) == 24
    assert sum(k > 0 for *_, k, _ in cells) == 6
    assert ("tiny-b", "word_length", 0, 2, "beast") in cells
