"""Attacks at compute budgets: each budget continues the next smaller one's state."""

from robustness_scaling.config import attack_evaluation

ATTACK_CELL = "results/attacks/{family}/{size}/{task}/seed{seed}/round{round}/{attack}/budget{budget}"


def evaluation(attack, task, round):
    """Evaluation attack `attack`'s settings on `task` at `round` (finetuned or trained), or
    None where the entry does not attack it."""
    return attack_evaluation(config["attacks"][attack], task, int(round) > 0)


def budgets(attack, task, round):
    return sorted(evaluation(attack, task, round)["budgets"])


def previous_budget(w):
    """This cell's predecessor: the same attack at the next smaller budget, if any."""
    ladder = budgets(w.attack, w.task, w.round)
    index = ladder.index(int(w.budget))
    if index == 0:
        return {}
    stem = ATTACK_CELL.format(**{**dict(w.items()), "budget": ladder[index - 1]})
    return {"previous_records": f"{stem}.parquet", "previous_state": f"{stem}.state.pt"}


def beast_sampler():
    """BEAST's proposal LM: the family's smallest base LM (pythia-14m, Qwen2.5-0.5B, tiny's)."""
    if FAMILY != "tiny":
        return HUB_FAMILIES[FAMILY].smallest_base_lm
    sizes = config["tiny"]["sizes"]
    smallest = min(sizes, key=lambda s: sizes[s]["hidden_size"] ** 2 * sizes[s]["num_layers"])
    return model_source(smallest)


def attack_settings(w):
    """What a budget cell depends on: the attack's settings on its task and round, except the
    list of budgets.

    The budget itself is a wildcard and the next smaller one an input, so adding a budget
    reruns no existing cell; the settings of other tasks or rounds (`per_task`, `trained`)
    rerun none either.
    """
    settings = evaluation(w.attack, w.task, w.round)
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
        **previous_budget(w),
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


rule attack:
    input:
        unpack(attack_inputs),
    output:
        records=f"{ATTACK_CELL}.parquet",
        state=f"{ATTACK_CELL}.state.pt",
    params:
        attack=attack_settings,
        task_settings=lambda w: task_params(w.task, "generation_batch_size"),
        sampler=lambda w: sampler_of(w.attack),
        dtype=config["runtime"]["dtype"],
        autocast=config["runtime"]["autocast"],
        resume=lambda w: f"{RESUME}/{ATTACK_CELL.format(**dict(w.items()))}",
        code=code("robustness_scaling.stages.attack_cell"),
    log:
        "logs/attacks/{family}/{size}/{task}/seed{seed}/round{round}/{attack}/budget{budget}.log",
    benchmark:
        "results/benchmarks/attacks/{family}/{size}/{task}/seed{seed}/round{round}/{attack}/budget{budget}.tsv"
    threads: resource("attack", "threads", 1)
    resources:
        **stage_resources("attack"),
    conda:
        "../../envs/robustness-scaling.yaml"
    script:
        "../scripts/attack.py"
