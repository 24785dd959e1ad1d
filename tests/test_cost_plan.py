"""The cost plan against FLOPs and bytes worked out by hand, its job counts against the
workflow's, and its errors."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, SCHEMA
from robustness_scaling.config import validate_config
from robustness_scaling.cost_plan import GIB, cost_plan, main, totals
from robustness_scaling.cost_plan.models import QUERY_HEADS
from robustness_scaling.cost_plan.tokens import PromptSplit, prompt_split
from robustness_scaling.models.families import HUB_FAMILIES
from robustness_scaling.models.tiny import classifier_params
from robustness_scaling.tasks import get_task
from robustness_scaling.tasks.base import ANSWER_PROMPT, attack_context
from robustness_scaling.tasks.synthetic import password_match
from robustness_scaling.tasks.words import english_words

# The smoke study cut to one size, one task and one seed, so that every number is checkable.
STUDY = {
    "study": "hand",
    "family": "tiny",
    "sizes": ["tiny-a"],
    "tasks": ["password_match"],
    "seeds": [0],
    "runtime": {"autocast": "float32"},
    "task_settings": {
        "password_match": {"include_instructions": False, "train_size": 400, "val_size": 200}
    },
    "tiny": {
        "vocab_size": 300,
        "sizes": {"tiny-a": {"hidden_size": 16, "num_layers": 1, "num_heads": 2}},
        "pretrain": {"steps": 4, "batch_size": 4, "block_size": 32},
    },
    "finetune": {
        "n_train": 64,
        "epochs": 4,
        "batch_size": 16,
        "minibatch_size": 8,
        "optimizer": "adamw",
    },
    "attacks": {
        "gcg": {
            "budgets": [1, 2],
            "n_val": 8,
            "options": {"n_candidates": 16, "top_k": 32, "n_attack_tokens": 4},
        },
        "random_token": {
            "budgets": [3],
            "n_val": 8,
            "options": {"n_attack_tokens": 4},
            "rounds": "finetuned",
        },
        "beast": {
            "budgets": [2],
            "n_val": 8,
            "options": {"beam_width": 2, "branch_factor": 2},
            "rounds": "finetuned",
        },
    },
    "adversarial_training": {
        "rounds": 2,
        "eval_rounds": [0, 2],
        "examples_per_round": 4,
        "max_augmented_data_size": 8,
        "batch_size": 4,
        "minibatch_size": 4,
        "ramp_start": 1,
        "ramp_end": 2,
        "attack_options": {"n_candidates": 8, "top_k": 16, "n_attack_tokens": 3},
        "optimizer": "adamw",
    },
}
PROMPT = 40  # tokens of a clean prompt, given (the estimate is not under test here)

# tiny-a, d = 16, one layer, MLP 64, vocab 300: embeddings 300·16 = 4,800; the layer's two
# norms 64, attention (16·48 + 48) + (16·16 + 16) = 1,088, MLP (16·64 + 64) + (64·16 + 16) =
# 2,128; final norm 32 and score head 32: 4,800 + 3,280 + 64.
N = 8_144
N_GEN = N - 2 * 16 + 300 * 16  # the causal LM: no score head, an untied unembedding: 12,912


def plan_of(study: dict, **kwargs) -> dict:
    config = validate_config(study, SCHEMA)
    plan = cost_plan(config, prompt_tokens={t: PROMPT for t in study["tasks"]}, **kwargs)
    return {row.stage: row for row in plan.itertuples()}


def test_the_hand_made_study_costs_what_the_arithmetic_says():
    assert classifier_params(STUDY["tiny"]["sizes"]["tiny-a"], 300) == N
    rows = plan_of(STUDY)
    # Pretraining: 6 · N_gen · steps · batch · block = 6 · 12,912 · 4 · 4 · 32.
    assert rows["pretrain"].flops == 6 * 12_912 * 512 == 39_665_664
    # Finetuning: 4 epochs × 64 examples of 40 tokens, 6 · N · T.
    assert rows["finetune"].flops == 6 * 8_144 * (4 * 64 * 40) == 500_367_360
    # Two rounds. GCG on 3 attack tokens: T = 43; 8 candidates (of 3 × 16 swaps); an iteration
    # is 6·N·43 + 8 · 2·N·43 = 946·N. Round 1: 1 iteration on 4 examples (3,784·N), then a
    # training set of 4 adversarial (pool of 4) + 4 clean examples: 6·N·(4·43 + 4·40) =
    # 1,992·N. Round 2: 2 iterations (7,568·N), then 6 adversarial (80 % of 8) + 2 clean:
    # 6·N·(6·43 + 2·40) = 2,028·N.
    assert rows["adversarial"].jobs == 2
    assert rows["adversarial"].flops == (3_784 + 1_992 + 7_568 + 2_028) * N == 125_189_568
    # GCG on round 0 and round 2 at its largest budget (2 iterations), 8 examples each:
    # T = 40 + 4; an iteration 6·N·44 + 16 · 2·N·44 = 1,672·N.
    assert rows["attack:gcg"].jobs == 2
    assert rows["attack:gcg"].flops == 2 * 8 * 2 * 1_672 * N == 435_736_576
    # RandomToken: 3 forward passes of 44 tokens on 8 examples.
    assert rows["attack:random_token"].flops == 8 * 3 * 2 * N * 44 == 17_200_128
    # BEAST, 2 beams × 2 branches. Iteration 1: one beam, 2 candidates of 41 tokens
    # (2 · 2·N·41 = 164·N) and a sampler pass over 40 tokens (2·N_gen·40 = 80·N_gen); iteration 2:
    # 2 beams, 4 candidates of 42 tokens (336·N), sampler passes over 41 (164·N_gen). The
    # sampler is the smallest size's causal LM (tiny-a's, N_gen = 12,912).
    assert rows["attack:beast"].flops == 8 * (500 * N + 244 * N_GEN) == 57_780_224


def test_attacks_sharing_a_model_s_job_are_priced_as_one_stage_of_its_jobs():
    """``attack_jobs: per_model``: round 0 (three attacks) and round 2 (GCG alone) are one job
    each, and the stage costs what the three attack stages cost apart."""
    apart = plan_of(STUDY)
    rows = plan_of({**STUDY, "attack_jobs": "per_model"})
    assert rows["attacks"].jobs == 2
    attack_stages = [stage for stage in apart if stage.startswith("attack:")]
    assert rows["attacks"].flops == sum(apart[stage].flops for stage in attack_stages)
    assert rows["attacks"].peak_memory_gib == max(
        apart[stage].peak_memory_gib for stage in attack_stages
    )
    assert not any(stage.startswith("attack:") for stage in rows)


def test_gpu_hours_follow_the_flops_per_second():
    rows = plan_of(STUDY, flops_per_second=1e9)
    assert rows["finetune"].gpu_hours == pytest.approx(500_367_360 / 1e9 / 3600)


def test_peak_memory_of_training_jobs():
    rows = plan_of(STUDY)
    # Finetuning with AdamW in float32: weights, gradients and two states, 4 · 4 bytes per
    # parameter; activations of 8 rows × 40 tokens × 1 layer × (10·16 + 2·64) float32 values.
    assert rows["finetune"].peak_memory_gib * GIB == pytest.approx(16 * N + 8 * 40 * 288 * 4)


def test_sharded_training_memory_is_per_gpu():
    """Over 4 GPUs each holds a quarter of the states, plus the largest layer gathered whole
    (the embedding, 300 · 16 float32 values), and passes 2 of each minibatch's 8 rows."""
    study = copy.deepcopy(STUDY)
    study["resources"] = {"finetune": {"by_size": {"tiny-a": {"gpu": 4}}}}
    rows = plan_of(study)
    expected = 16 * N / 4 + 300 * 16 * 4 + 2 * 40 * 288 * 4
    assert rows["finetune"].peak_memory_gib * GIB == pytest.approx(expected)


# The attacks' memory in float32. PasswordMatch's slot is its last content chunk, so of the
# 40-token prompt only the answer prompt follows it ("\n\nAnswer:", 9 characters at 1.8 a token:
# 5 tokens) and 35 are cached before it. A token's keys and values take 2 · 1 layer · 16 · 4 =
# 128 bytes, its activations in one layer 288 values (10·16 + 2·64); tiny-a has 2 heads.
KV, LAYER = 128, 288 * 4


def test_peak_memory_of_gcg_counts_shared_prefixes_once_per_example():
    rows = plan_of(STUDY)
    # Held: weights 4·N; the prefix cache of the 8 examples, 8 · 35 · KV = 35,840; the attack
    # cache of 4 tokens and the one-hot gradients, 8 · (4 · KV + 4 · 300 · 4) = 42,496.
    held = 4 * N + 35_840 + 42_496
    # The gradient pass, 8 rows: a 9-token query (4 attack + 5 after) through the layer with
    # gradients, 9 · LAYER = 10,368 per row, and the row's copy of its prefix for the batch,
    # 8 · 35 · KV = 35,840 (the attack part kept is copied out, counted as held); 118,784.
    gradient = 35_840 + 8 * 10_368
    # A candidate pass, 128 rows (8 examples × 16 candidates): the joined copy of the 39 shared
    # tokens (prefix and attack) of the batch's examples (all 8: rows go by length),
    # 8 · 39 · KV = 39,936; per row the query's layer, 10,368, and float32 scores of 2 heads
    # over 39 + 9 keys, 2 · 9 · 48 · 4 = 3,456; in all 1,809,408.
    scoring = 39_936 + 128 * (10_368 + 3_456)
    assert gradient < scoring
    assert rows["attack:gcg"].peak_memory_gib * GIB == held + scoring == 1_920_320
    # The round attack, 4 examples, 3 attack tokens, 8 candidates: held 4·N + 4 · 35 · KV +
    # 4 · (3 · KV + 3 · 300 · 4); a candidate pass of 32 rows, 8-token queries over 38 shared
    # tokens: 4 · 38 · KV + 32 · (8 · LAYER + 2 · 8 · 46 · 4). The training step (16·N and
    # 4 rows of 43 tokens, 4 · 43 · LAYER = 198,144) needs less.
    attack = 4 * N + 17_920 + 15_936 + 19_456 + 32 * (9_216 + 2_944)
    assert attack > 16 * N + 198_144
    assert rows["adversarial"].peak_memory_gib * GIB == attack == 475_008


def test_peak_memory_of_random_token_and_beast():
    rows = plan_of(STUDY)
    # RandomToken, 3 draws of 4 tokens on 8 examples: 24 rows of 9-token queries over the
    # 35-token prefix, 24 · (9 · LAYER + 2 · 9 · 44 · 4); the prefix is read where it is.
    prefix = 8 * 35 * KV
    passes = 24 * (10_368 + 3_168)
    assert rows["attack:random_token"].peak_memory_gib * GIB == 4 * N + prefix + passes
    # BEAST, 2 iterations, 2 beams × 2 branches: held are both models' weights and prefix
    # caches and the sampler's logits and log-softmax over 300 tokens for 16 beams. The
    # victim's pass: 32 rows of 7-token queries (2 suffix + 5 after); the sampler's, 16 rows of
    # 2 (less).
    held = 4 * N + 4 * N_GEN + 2 * prefix + 2 * 16 * 300 * 4
    victim = 32 * (7 * LAYER + 2 * 7 * 42 * 4)
    sampler = 16 * (2 * LAYER + 2 * 2 * 37 * 4)
    assert sampler < victim
    assert rows["attack:beast"].peak_memory_gib * GIB == held + victim == 527_616


def test_without_a_kv_cache_every_pass_reads_whole_prompts():
    study = copy.deepcopy(STUDY)
    study["attacks"]["random_token"]["options"]["use_kv_cache"] = False
    rows = plan_of(study)
    # Nothing cached: 24 rows of the whole 44-token prompt, scores over its own tokens only.
    whole = 24 * (44 * LAYER + 2 * 44 * 44 * 4)
    assert rows["attack:random_token"].peak_memory_gib * GIB == 4 * N + whole == 1_620_800


def test_the_prompt_is_cut_where_the_attack_goes():
    config = validate_config(STUDY, SCHEMA)
    # The synthetic tasks' own slot is their last content chunk: the answer prompt follows it.
    train, _ = password_match(english_words(), 2, 2)
    assert attack_context(train[0], get_task("password_match").placement)[1] == ANSWER_PROMPT
    assert prompt_split(config, "password_match", 40, None) == PromptSplit(35, 5, 0)
    # A prefix attack (40 · 1.8 = 72 characters: 63 of content, then the answer prompt) has the
    # whole prompt after it; at 0.5, half the content and the answer prompt (40.5 characters).
    assert prompt_split(config, "password_match", 40, 0.0) == PromptSplit(0, 40, 0)
    assert prompt_split(config, "password_match", 40, 0.5) == PromptSplit(17, 23, 0)


def test_a_generation_task_is_priced_as_a_causal_lm_with_its_judged_answers():
    study = copy.deepcopy(STUDY)
    del study["adversarial_training"]
    study["tasks"] = ["password_match_generation"]
    study["task_settings"] = {
        "password_match_generation": {
            "include_instructions": False,
            "train_size": 400,
            "val_size": 200,
            "max_new_tokens": 3,
            "judge_at": "budgets",
        }
    }
    study["attacks"] = {"gcg": {**STUDY["attacks"]["gcg"], "budgets": [1, 3]}}
    rows = plan_of(study)
    target = 5  # " GRANTED": 8 characters at 1.8 a token
    # Finetuning trains the causal LM on prompt, answer and end of text.
    assert rows["finetune"].flops == 6 * N_GEN * (4 * 64 * (40 + target + 1))
    # GCG reads prompt, attack and target: T = 49, an iteration (6 + 2·16)·N_gen·49 =
    # 1,862·N_gen. The answers are judged at the budgets (iterations 1 and 3), each 3 tokens
    # after the 44-token attacked prompt: 2·N_gen·(44 + 45 + 46) = 270·N_gen.
    assert rows["attack:gcg"].flops == 8 * (3 * 1_862 + 2 * 270) * N_GEN == 632_791_296


def _shipped(name: str) -> dict:
    return validate_config(yaml.safe_load((REPO / name).read_text()), SCHEMA)


@pytest.mark.parametrize(
    ("name", "jobs"),
    [
        # The job stats of `snakemake -n --configfile <study>` (round and attack rules summed).
        (
            "config/paper-pythia.yaml",
            {
                "finetune": 300,
                "adversarial": 900,
                "attack:gcg": 300 + 2070,
                "attack:random_token": 300,
                "attack:beast": 300,
                "attack:gcg_infix90": 1380,
                "attack:gcg_prefix": 1380,
            },
        ),
        (
            "config/paper-qwen.yaml",
            {"finetune": 71, "adversarial": 876, "attack:gcg": 66 + 5 + 660, "attack:beast": 216},
        ),
    ],
)
def test_the_plan_counts_the_jobs_the_workflow_plans(name, jobs):
    plan = cost_plan(_shipped(name))
    assert plan.groupby("stage")["jobs"].sum().to_dict() == jobs
    assert totals(plan)["jobs"] == sum(jobs.values())


def test_hub_shapes_reproduce_the_published_parameter_counts():
    for size, s in HUB_FAMILIES["pythia"].sizes.items():  # GPT-NeoX, as the tiny family
        shape = {"hidden_size": s.hidden_size, "num_layers": s.num_layers}
        assert classifier_params(shape, s.vocab_size) == s.classifier_params, size
    for size, s in HUB_FAMILIES["qwen2.5"].sizes.items():
        d, f, kv = s.hidden_size, s.intermediate_size, s.kv_size
        # q, k, v with biases, o without; gate, up, down; two RMS norms; final norm and head.
        layer = (d * d + d) + 2 * (d * kv + kv) + d * d + 3 * d * f + 2 * d
        assert s.vocab_size * d + s.num_layers * layer + 3 * d == s.classifier_params, size
    for family, hub in HUB_FAMILIES.items():  # heads of a whole head size; whole GQA groups
        assert QUERY_HEADS[family].keys() == hub.sizes.keys()
        for size, s in hub.sizes.items():
            heads = QUERY_HEADS[family][size]
            assert s.hidden_size % heads == 0, size
            assert s.kv_size % (s.hidden_size // heads) == 0, size


def test_bad_arguments_are_refused_with_a_clear_message():
    config = validate_config(STUDY, SCHEMA)
    with pytest.raises(ValueError, match="flops_per_second must be a positive number"):
        cost_plan(config, flops_per_second=0)
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['imbd'\]"):
        cost_plan(config, prompt_tokens={"imbd": 300})
    with pytest.raises(ValueError, match="positive whole number"):
        cost_plan(config, prompt_tokens={"password_match": 0})


def test_the_command_prints_the_plan_and_rejects_bad_input(tmp_path, capsys):
    assert main(["--configfile", str(REPO / "config/smoke.yaml"), "--tokens", "word_length=9"]) == 0
    out = capsys.readouterr().out
    assert "    attacks " in out and "Total: 22 model jobs" in out
    assert "word_length 9 (given)" in out
    with pytest.raises(SystemExit) as exit_:
        main(["--configfile", str(REPO / "config/smoke.yaml"), "--tokens", "imdb"])
    assert exit_.value.code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**STUDY, "sizes": ["tiny-z"]}))
    assert main(["--configfile", str(bad)]) == 2
    assert "unknown name(s) ['tiny-z']" in capsys.readouterr().err
    smoke = str(REPO / "config/smoke.yaml")
    assert main(["--configfile", smoke, "--flops-per-second", "-1"]) == 2
    assert "flops_per_second must be a positive number" in capsys.readouterr().err


def test_the_package_runs_as_a_command():
    done = subprocess.run(
        [sys.executable, "-m", "robustness_scaling.cost_plan", "--configfile", "config/smoke.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Total: 22 model jobs" in done.stdout and not done.stderr
