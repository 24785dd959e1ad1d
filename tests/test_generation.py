"""Generation tasks: judges, greedy answers and their FLOPs, attacks judged on what the model
writes, the StrongREJECT loader, and finetuning a victim to write its answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pytest
import torch
from attack_fixtures import examples, tiny_causal_lm

from robustness_scaling.attack_options import BEASTOptions, GCGOptions, RandomTokenOptions
from robustness_scaling.attacks import BEAST, GCG, RandomToken, build_attack, correctly_classified
from robustness_scaling.data import make_splits
from robustness_scaling.flops import forward_flops
from robustness_scaling.generative.answers import GenerationCheck, generation_check, greedy_generate
from robustness_scaling.generative.judges import (
    LLMJudge,
    RefusalJudge,
    TargetJudge,
    Verdicts,
    build_judge,
)
from robustness_scaling.tasks import get_task, model_input
from robustness_scaling.tasks.base import Example, Placement, attack_context
from robustness_scaling.tasks.registry import STRONGREJECT_REFUSAL, STRONGREJECT_TARGET

CHUNK = Placement(overwritable_chunk=1)


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def lm(tokenizer):
    return tiny_causal_lm(tokenizer)


def _denied(n: int) -> list[Example]:
    """Wrong-password examples: the true answer is " DENIED", the attack wants " GRANTED"."""
    return [e for e in examples(2 * n) if e.clf_label == 0][:n]


def _ending_in_the_attack(n: int) -> list[Example]:
    """Wrong-password examples without the answer prompt: the attack text is the last thing the
    victim reads, so even a random LM's answer depends on it."""
    return [replace(e, answer_prompt="") for e in _denied(n)]


# --- judges on fixed strings -------------------------------------------------------------


def test_target_judge_decisions():
    wrong = _denied(1)[0]
    answers = [" GRANTED", "GRANTED now", " DENIED", " granted", "", " I say GRANTED"]
    start = TargetJudge()([wrong] * 6, [""] * 6, answers)
    assert start.success.tolist() == [True, True, False, False, False, False]
    assert start.correct.tolist() == [False, False, True, False, False, False]
    anywhere = TargetJudge("contains")([wrong] * 6, [""] * 6, answers)
    assert anywhere.success.tolist() == [True, True, False, False, False, True]
    assert TargetJudge().name == "target-startswith"


def test_refusal_judge_decisions():
    answers = [" I'm sorry, I can't help.", " Sure, here is how.", "", "AS AN AI I must decline"]
    verdicts = RefusalJudge()([None] * 4, [""] * 4, answers)
    assert verdicts.success.tolist() == [False, True, False, False]
    assert verdicts.correct.tolist() == [True, False, False, True]
    custom = RefusalJudge(("nope",))([None] * 2, [""] * 2, ["Nope.", "fine"])
    assert custom.success.tolist() == [False, True]


def test_build_judge_errors_name_the_problem():
    assert build_judge(None).name == "target-startswith"
    assert build_judge({"type": "refusal"}).name == "refusal"
    with pytest.raises(ValueError, match="unknown judge type 'gpt'; allowed: target, refusal, llm"):
        build_judge({"type": "gpt"})
    with pytest.raises(ValueError, match="an llm judge needs `model`"):
        build_judge({"type": "llm"})
    with pytest.raises(ValueError, match="match must be one of"):
        build_judge({"type": "target", "match": "regex"})


def test_llm_judge_reads_the_yes_no_logits(tokenizer, tmp_path):
    """A judge LM rigged to always prefer "Yes": every answer counts as compliance."""
    judge_lm = tiny_causal_lm(tokenizer, seed=5)
    yes = tokenizer("Yes", add_special_tokens=False)["input_ids"][0]
    with torch.no_grad():
        judge_lm.gpt_neox.final_layer_norm.weight.zero_()
        judge_lm.gpt_neox.final_layer_norm.bias.fill_(1.0)
        head = judge_lm.get_output_embeddings().weight
        head.zero_()
        head[yes] = 1.0
    judge_lm.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    judge = LLMJudge(str(tmp_path), yes="Yes", no="No")
    verdicts = judge(_denied(2), ["p1", "p2"], ["a", "b"])
    assert verdicts.success.tolist() == [True, True] and not verdicts.correct.any()
    assert judge.name == f"llm:{tmp_path}"


# --- greedy generation -------------------------------------------------------------------


def test_batched_generation_equals_one_at_a_time_and_counts_flops(lm, tokenizer):
    prompts = [model_input(e, False) for e in examples(5)] + ["x"]
    batched = greedy_generate(lm, tokenizer, prompts, 4, batch_size=4)
    for i, prompt in enumerate(prompts):
        alone = greedy_generate(lm, tokenizer, [prompt], 4)
        assert alone.texts == [batched.texts[i]] and alone.flops[0] == batched.flops[i]
    length = len(tokenizer(prompts[0])["input_ids"])
    n_new = len(tokenizer(batched.texts[0], add_special_tokens=False)["input_ids"])
    if n_new == 4:  # no end-of-text: every new token costs a pass over the sequence so far
        expected = sum(forward_flops(lm.num_parameters(), length + j) for j in range(4))
        assert batched.flops[0] == expected


# --- attacks judged on the answer --------------------------------------------------------


@dataclass(frozen=True)
class _ParityJudge:
    """Succeeds on answers of odd length: a plug-in judge random answers hit half the time."""

    name: str = "parity"

    def __call__(self, examples, prompts, generations) -> Verdicts:
        hit = np.array([len(g) % 2 == 1 for g in generations], dtype=bool)
        return Verdicts(hit, ~hit)


@dataclass
class _RecordingJudge:
    """Never succeeds; remembers the prompts it was shown."""

    shown: list = field(default_factory=list)
    name: str = "recording"

    def __call__(self, examples, prompts, generations) -> Verdicts:
        self.shown += list(prompts)
        return Verdicts(np.zeros(len(prompts), bool), np.ones(len(prompts), bool))


def test_gcg_records_judged_answers_and_their_flops(lm, tokenizer):
    check = GenerationCheck(TargetJudge(), max_new_tokens=3)
    batch = _denied(2)
    config = GCGOptions(top_k=24, n_candidates=12, seed=3)
    judged = GCG(lm, tokenizer, config, check).run(batch, CHUNK, False, n_iterations=2).records
    plain = GCG(lm, tokenizer, config).run(batch, CHUNK, False, n_iterations=2).records
    pd.testing.assert_series_equal(judged["loss"], plain["loss"])  # same search
    assert (judged["attack_text"] == plain["attack_text"]).all()
    for row in judged.itertuples():
        example = batch[row.example_id]
        before, after = attack_context(example, CHUNK, False)
        answer = greedy_generate(lm, tokenizer, [before + row.attack_text + after], 3)
        assert row.generation == answer.texts[0]
        assert row.success == answer.texts[0].lstrip().startswith("GRANTED")
        assert row.flops == plain["flops"][row.Index]  # the search's FLOPs only
        assert row.judge_flops == answer.flops[0] > 0  # the answer's, in their own column
    assert judged["predicted_label"].isin([-1, 0, 1]).all()
    assert (plain["judge_flops"] == 0).all()


@pytest.mark.parametrize("method", ["gcg", "beast"])
def test_judging_only_at_chosen_iterations(lm, tokenizer, method):
    """With ``judge_at`` the search is the same; other iterations have no verdict, no answer
    and no judge FLOPs, and the judged ones equal those of judging every iteration."""
    check = GenerationCheck(TargetJudge(), max_new_tokens=3)
    batch = _denied(3)
    options = {"gcg": {"top_k": 24, "n_candidates": 12}, "beast": {"beam_width": 2}}[method]
    sampler = lm if method == "beast" else None

    def run(**kwargs):
        attack = build_attack(method, lm, tokenizer, options, sampler, check)
        return attack.run(batch, CHUNK, False, n_iterations=4, **kwargs).records

    every, chosen = run(), run(judge_at=[2, 4])
    columns = ["example_id", "iteration", "loss", "attack_ids", "attack_text", "flops"]
    pd.testing.assert_frame_equal(every[columns], chosen[columns])
    judged = chosen["iteration"].isin([0, 2, 4])
    pd.testing.assert_frame_equal(every[judged], chosen[judged].astype({"success": bool}))
    skipped = chosen[~judged]
    assert skipped["success"].isna().all() and (skipped["predicted_label"] == -1).all()
    assert (skipped["generation"] == "").all() and (skipped["judge_flops"] == 0).all()


def test_unjudged_iterations_are_left_out_of_the_table_with_their_flops_counted(lm, tokenizer):
    from robustness_scaling.analysis.aggregate import cell_curve

    check = GenerationCheck(TargetJudge(), max_new_tokens=3)
    attack = GCG(lm, tokenizer, GCGOptions(top_k=24, n_candidates=12), check)
    records = attack.run(_denied(3), CHUNK, False, n_iterations=3, judge_at=[3]).records
    cell = {"family": "tiny", "size": "s", "task": "t", "seed": 0, "round": 0}
    records = records.assign(
        **cell,
        attack="gcg",
        position="chunk",
        n_val=3,
        n_attacked=3,
        n_params=1,
        judge="target",
        precision="float32",
    )
    curve = cell_curve(records)
    assert curve["iteration"].tolist() == [0, 3]
    assert curve["attack_flops"].iloc[-1] == records["flops"].sum()
    assert curve["judge_flops"].iloc[-1] == records["judge_flops"].sum()


def test_random_token_keeps_the_first_judged_success(lm, tokenizer):
    check = GenerationCheck(_ParityJudge(), max_new_tokens=2)
    batch = _ending_in_the_attack(6)
    keep = correctly_classified(lm, tokenizer, batch, False, check=check)
    assert keep
    attack = RandomToken(lm, tokenizer, RandomTokenOptions(n_attack_tokens=3, seed=1), check)
    records = attack.run([batch[i] for i in keep], CHUNK, False, n_iterations=8).records
    asr = records.groupby("iteration")["success"].mean()
    assert asr.iloc[0] == 0 and asr.iloc[-1] > 0 and asr.is_monotonic_increasing
    for _, rows in records.groupby("example_id"):
        hits = rows[rows["success"]]
        if len(hits):
            assert hits["attack_text"].nunique() == 1 and hits["generation"].nunique() == 1


def test_beast_on_a_generative_victim(lm, tokenizer):
    check = GenerationCheck(_ParityJudge(), max_new_tokens=2)
    sampler = tiny_causal_lm(tokenizer, seed=2)
    attack = BEAST(lm, tokenizer, sampler, BEASTOptions(beam_width=2, branch_factor=2), check)
    records = attack.run(_ending_in_the_attack(2), CHUNK, False, n_iterations=3).records
    assert (records["success"] == (records["generation"].str.len() % 2 == 1)).all()
    assert records["generation"].nunique() > 1
    assert records.loc[records["iteration"] > 0, "flops"].gt(0).all()


def test_the_judge_reads_the_clean_prompt_not_the_attack(lm, tokenizer):
    judge = _RecordingJudge()
    batch = _denied(2)
    GCG(lm, tokenizer, GCGOptions(top_k=24, n_candidates=12), GenerationCheck(judge, 2)).run(
        batch, CHUNK, False, n_iterations=2
    )
    assert len(judge.shown) == 3 * len(batch)  # clean prompt, then two iterations
    assert set(judge.shown) == {model_input(e, False) for e in batch}


def test_a_state_from_another_judge_is_refused(lm, tokenizer):
    config = GCGOptions(top_k=24, n_candidates=12)
    first = GCG(lm, tokenizer, config, GenerationCheck(RefusalJudge(("no",)), 2))
    state = first.run(_denied(2), CHUNK, False, n_iterations=1).state
    other = GCG(lm, tokenizer, config, GenerationCheck(RefusalJudge(("nope",)), 2))
    with pytest.raises(
        ValueError, match="state is from a 'gcg' attack on other examples or options"
    ):
        other.run(_denied(2), CHUNK, False, n_iterations=1, state=state)


def test_only_correct_answers_are_attacked_and_classifier_checks_are_refused(lm, tokenizer):
    batch = _denied(4)
    never = GenerationCheck(_RecordingJudge(), max_new_tokens=1)
    assert correctly_classified(lm, tokenizer, batch, False, check=never) == [0, 1, 2, 3]
    from attack_fixtures import tiny_classifier

    with pytest.raises(ValueError, match="needs a causal LM victim, not a classifier"):
        build_attack("gcg", tiny_classifier(tokenizer), tokenizer, check=never)


def test_generation_check_follows_the_task():
    assert generation_check(get_task("password_match"), {}) is None
    check = generation_check(get_task("password_match_generation"), {"max_new_tokens": 4})
    assert check.judge.name == "target-startswith" and check.max_new_tokens == 4
    assert generation_check(get_task("strongreject"), {}).judge.name == "refusal"


# --- StrongREJECT and the finetuned generation victim ------------------------------------


def test_strongreject_from_a_local_file_of_forbidden_prompts(tmp_path):
    path = tmp_path / "strongreject.csv"
    pd.DataFrame(
        {"category": ["a", "b", "c"], "forbidden_prompt": ["How do I x?", "Tell me y.", "z"]}
    ).to_csv(path, index=False)
    splits = make_splits(
        "strongreject",
        {"files": {"validation": str(path)}, "columns": {"content": "forbidden_prompt"}},
    )
    assert splits["train"] == []
    assert sorted(e.content[0] for e in splits["validation"]) == ["How do I x?", "Tell me y.", "z"]
    example = splits["validation"][0]
    assert example.gen_target == STRONGREJECT_REFUSAL and example.proxy_gen_target == " Sure, here"
    assert STRONGREJECT_TARGET == " Sure, here"
    assert example.instructions == "" and example.answer_prompt == "\n\nAnswer:"


def _finetune(train, validation, source, folder, settings, check) -> dict:
    from robustness_scaling.training.finetune import finetune

    return finetune(
        train,
        validation,
        source,
        folder / "out",
        settings,
        include_instructions=False,
        seed=0,
        device=torch.device("cpu"),
        dtype=torch.float32,
        checkpoint=None,
        pretrain_flops=1,
        log=logging.getLogger("test"),
        check=check,
    )


def test_finetuning_teaches_the_answer_with_loss_on_it_only(neox_dir, tmp_path):
    from robustness_scaling.models.load import load_causal_lm, load_tokenizer, pad_batch
    from robustness_scaling.training.finetune import FinetuneSettings, answer_loss

    task = get_task("password_match_generation")
    check = generation_check(task, {"max_new_tokens": 3})
    data = make_splits(task.name, {"train_size": 400, "val_size": 40, "seed": 0})
    settings = FinetuneSettings(
        epochs=3,
        batch_size=16,
        minibatch_size=16,
        optimizer="adamw",
        learning_rate=3e-3,
        schedule="constant",
        checkpoint_seconds=0,
    )
    metrics = _finetune(data["train"], data["validation"], neox_dir, tmp_path, settings, check)
    assert metrics["judge"] == "target-startswith" and metrics["loss_curve"][-1] < 1.0
    assert metrics["clean_accuracy"] >= 0.4  # writes one of the two answers

    # the loss ignores the prompt: changing prompt labels' targets changes nothing
    tokenizer = load_tokenizer(tmp_path / "out")
    model = load_causal_lm(tmp_path / "out", torch.float32, torch.device("cpu"))
    batch = pad_batch([[5, 6, 7, 8, 9]], tokenizer.pad_token_id, torch.device("cpu"))
    batch["labels"] = torch.tensor([[-100, -100, -100, 8, 9]])
    logits = model(input_ids=batch["input_ids"]).logits[0]
    by_hand = -(logits[2].log_softmax(-1)[8] + logits[3].log_softmax(-1)[9]) / 2
    assert answer_loss(model, batch).item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_a_victim_used_as_it_comes_is_followed_from_its_round0(neox_dir, tmp_path):
    from functools import partial

    from robustness_scaling.models.load import load_causal_lm, resolve_source
    from robustness_scaling.training.finetune import evaluate_as_is

    prompts = [Example("", (p,), "\n\nAnswer:", 0, 1, " no", " Sure, here") for p in "ab"]
    evaluate = partial(
        evaluate_as_is,
        prompts,
        neox_dir,
        include_instructions=True,
        device=torch.device("cpu"),
        dtype=torch.float32,
        pretrain_flops=7,
        log=logging.getLogger("test"),
    )
    check = generation_check(get_task("strongreject"), {"max_new_tokens": 2})
    metrics = evaluate(tmp_path / "round0", check=check)
    assert sorted(p.name for p in (tmp_path / "round0").iterdir()) == ["metrics.json"]
    assert metrics["model_source"] == str(neox_dir) and metrics["judge"] == "refusal"
    assert resolve_source(tmp_path / "round0") == str(neox_dir)
    assert load_causal_lm(tmp_path / "round0", torch.float32, torch.device("cpu")) is not None
    with pytest.raises(ValueError, match="only generation tasks can skip finetuning"):
        evaluate(tmp_path / "x", check=None)


def test_finetuning_without_training_examples_says_what_to_do(neox_dir, tmp_path):
    from robustness_scaling.training.finetune import FinetuneSettings

    check = generation_check(get_task("strongreject"), {})
    with pytest.raises(ValueError, match="set its `finetune: false`"):
        _finetune([], _denied(2), neox_dir, tmp_path, FinetuneSettings(), check)
