"""Attacks at compute budgets: each budget continues the next smaller one's state."""

ATTACK_CELL = "results/attacks/{family}/{size}/{task}/seed{seed}/round{round}/{attack}/budget{budget}"


def budgets(attack):
    return sorted(config["attacks"][attack]["budgets"])


def previous_budget(w):
    """This cell's predecessor: the same attack at the next smaller budget, if any."""
    ladder = budgets(w.attack)
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


def attack_settings(attack):
    """What a budget cell depends on: the attack's settings except its list of budgets.

    The budget itself is a wildcard and the next smaller one an input, so adding a budget
    reruns no existing cell.
    """
    settings = {k: v for k, v in config["attacks"][attack].items() if k not in ("budgets", "tasks")}
    return canonical(settings)


def sampler_of(attack):
    settings = config["attacks"][attack]
    if settings["method"] != "beast":
        return None
    return settings.get("sampler", beast_sampler())


def attacks_on(task):
    """The evaluation attacks that attack a task: those without a `tasks` list, or naming it."""
    return [
        name for name, settings in config["attacks"].items() if task in settings.get("tasks", [task])
    ]


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
        for attack in attacks_on(task)
        for budget in budgets(attack)
    ]


rule attack:
    input:
        unpack(attack_inputs),
    output:
        records=f"{ATTACK_CELL}.parquet",
        state=f"{ATTACK_CELL}.state.pt",
    params:
        attack=lambda w: attack_settings(w.attack),
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
