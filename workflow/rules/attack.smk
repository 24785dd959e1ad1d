"""Attacks at compute budgets: one job runs an attack's budget ladder on one model.

A rule cannot have a number of outputs that depends on its wildcards, so there is one rule per
distinct ladder of an attack entry (the entry's own, its `trained` or a `per_task` one), each
limited by wildcard constraints to the tasks and rounds that ladder is for.
"""

import re
from functools import cache

from robustness_scaling.config import attack_evaluation

ATTACK_DIR = "results/attacks/{family}/{size}/{task}/seed{seed}/round{round}/{attack}"
ATTACK_CELL = ATTACK_DIR + "/budget{budget}"


@cache
def evaluation(attack, task, round):
    """Evaluation attack `attack`'s settings on `task` at `round` (finetuned or trained), or
    None where the entry does not attack it."""
    return attack_evaluation(config["attacks"][attack], task, int(round) > 0)


def budgets(attack, task, round):
    return sorted(evaluation(attack, task, round)["budgets"])


def ladder_rules():
    """(rule name, attack, trained, budgets, tasks): one rule per distinct ladder of an entry on
    the finetuned or the trained rounds."""
    tasks = sorted({task for _, task, _ in cells(config)})
    rules_ = []
    for attack in config["attacks"]:
        for kind, trained in (("finetuned", False), ("trained", True)):
            by_ladder = {}
            for task in tasks:
                settings = attack_evaluation(config["attacks"][attack], task, trained)
                if settings is not None:
                    by_ladder.setdefault(tuple(sorted(settings["budgets"])), []).append(task)
            for index, (ladder, ladder_tasks) in enumerate(sorted(by_ladder.items())):
                suffix = f"_{index + 1}" if index else ""
                rules_.append((f"attack_{attack}_{kind}{suffix}", attack, trained, ladder, ladder_tasks))
    return rules_


def ladder_outputs(ladder):
    """Each budget's records and state, named records<budget> and state<budget>."""
    outputs = {}
    for budget in ladder:
        stem = ATTACK_CELL.replace("{budget}", str(budget))
        outputs[f"records{budget}"] = f"{stem}.parquet"
        outputs[f"state{budget}"] = f"{stem}.state.pt"
    return outputs

def beast_sampler():
    """BEAST's proposal LM: the family's smallest base LM (pythia-14m, Qwen2.5-0.5B, tiny's)."""
    if FAMILY != "tiny":
        return HUB_FAMILIES[FAMILY].smallest_base_lm
    sizes = config["tiny"]["sizes"]
    smallest = min(sizes, key=lambda s: sizes[s]["hidden_size"] ** 2 * sizes[s]["num_layers"])
    return model_source(smallest)


def attack_settings(w):
    """What a cell's records depend on: the attack's settings on its task and round, except
    the ladder of budgets (a params of its own: adding a budget reruns the job, which restores
    the budgets it already made and computes only the new ones). The settings of other tasks
    or rounds (`per_task`, `trained`) rerun nothing here."""
    return settings_without_budgets(w.attack, w.task, w.round)


@cache
def settings_without_budgets(attack, task, round):
    settings = evaluation(attack, task, round)
    return canonical({k: v for k, v in settings.items() if k != "budgets"})


def sampler_of(attack):
    settings = config["attacks"][attack]
    if settings["method"] != "beast":
        return None
    return settings.get("sampler", beast_sampler())


def attacks_on(task, round):
    """The evaluation attacks that attack a task at a round (finetuned or trained)."""
    return [name for name in config["attacks"] if evaluation(name, task, round) is not None]


def attack_inputs(w):
    inputs = {
        "model": f"results/models/{w.family}/{w.size}/{w.task}/seed{w.seed}/round{w.round}",
        "validation": f"results/data/{w.task}/validation.jsonl",
    }
    sampler = sampler_of(w.attack)
    if sampler is not None and sampler.startswith("results/"):
        inputs["sampler"] = sampler
    return inputs


def attack_targets():
    """Every evaluation attack at every budget on every evaluated round of every cell."""
    return [
        ATTACK_CELL.format(
            family=FAMILY, size=size, task=task, seed=seed, round=k, attack=attack, budget=budget
        )
        + ".parquet"
        for size, task, seed in cells(config)
        for k in eval_rounds_of(size, task)
        for attack in attacks_on(task, k)
        for budget in budgets(attack, task, k)
    ]


for rule_name, attack_name, trained, ladder, ladder_tasks in ladder_rules():

    rule:
        name:
            rule_name
        input:
            unpack(attack_inputs),
        output:
            **ladder_outputs(ladder),
        wildcard_constraints:
            attack=re.escape(attack_name),
            task="|".join(map(re.escape, ladder_tasks)),
            round=r"[1-9]\d*" if trained else "0",
        params:
            attack=attack_settings,
            budgets=list(ladder),
            task_settings=lambda w: task_params(w.task, "generation_batch_size"),
            sampler=sampler_of(attack_name),
            dtype=config["runtime"]["dtype"],
            autocast=config["runtime"]["autocast"],
            resume=f"{RESUME}/{ATTACK_DIR}",
            store=f"results/.ladder/{ATTACK_DIR.removeprefix('results/')}",
            code=code("robustness_scaling.stages.attack_cell"),
        log:
            "logs/attacks/{family}/{size}/{task}/seed{seed}/round{round}/{attack}.log",
        benchmark:
            "results/benchmarks/attacks/{family}/{size}/{task}/seed{seed}/round{round}/{attack}.tsv"
        threads: resource("attack", "threads", 1)
        resources:
            **stage_resources("attack"),
        conda:
            "../../envs/robustness-scaling.yaml"
        script:
            "../scripts/attack.py"
