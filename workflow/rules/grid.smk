"""The study's grid while planning: which rounds each cell trains, which attacks and budgets
attack each round, the rules that make them, and the files each job reads."""

import re
from functools import cache


def finetune_job(w):
    """A finetune job's settings (robustness_scaling.jobs.finetune.Finetune)."""
    settings = config["finetune"]
    return {
        "family": w.family,
        "size": w.size,
        "task": w.task,
        "seed": int(w.seed),
        "model_source": model_source(w.size, w.task),
        "task_settings": task_params(w.task, *READ_BY_ATTACKS_ONLY),
        "settings": canonical({k: v for k, v in settings.items() if k not in ("n_train", "n_val")}),
        "n_train": settings["n_train"],
        "n_val": settings["n_val"],
        "resume": f"{RESUME}/finetune/{w.family}/{w.size}/{w.task}/seed{w.seed}",
    }


def finetune_inputs(w):
    inputs = {
        "train": f"results/data/{w.task}/train.jsonl",
        "validation": f"results/data/{w.task}/validation.jsonl",
    }
    if w.family == "tiny":
        inputs["model"] = checked_model(model_source(w.size, w.task))
    return inputs


# The grid itself is robustness_scaling.grid's, on this study's config; the cost plan prices
# the same grid. Cached here: every job's params ask again.
@cache
def rounds_of(size, task):
    return grid.rounds_of(config, size, task)


def eval_rounds_of(size, task):
    return grid.eval_rounds_of(config, size, task)


@cache
def evaluation(attack, task, round):
    return grid.evaluation(config, attack, task, int(round))


def budgets(attack, task, round):
    return grid.budgets(config, attack, task, int(round))


@cache
def round_settings(size, task):
    return canonical(grid.round_settings(config, size, task))


def round_job(w, block):
    """A round job's settings (robustness_scaling.jobs.adversarial_round.AdversarialRounds)."""
    rounds = block or [int(w.round)]
    return {
        "task": w.task,
        "seed": int(w.seed),
        "rounds": rounds,
        "settings": round_settings(w.size, w.task),
        "n_train": config["finetune"]["n_train"],
        "n_val": config["finetune"]["n_val"],
        "task_settings": task_params(w.task, *READ_BY_ATTACKS_ONLY, "judge", "max_new_tokens"),
        "sampler": training_sampler(),
        "resume": [f"{RESUME}/{round_dir(w, k).removeprefix('results/')}" for k in rounds],
    }


def training_sampler():
    if ADVERSARIAL["attack_method"] != "beast":
        return None
    return beast_sampler()


def round_dir(w, k):
    """Round k's model directory of the job's family × size × task × seed cell."""
    return MODEL_CELL.format(**{**dict(w.items()), "round": k})


def round_inputs(w, block):
    inputs = {
        "previous": checked_model(round_dir(w, block[0] - 1 if block else int(w.round) - 1)),
        "train": f"results/data/{w.task}/train.jsonl",
        "validation": f"results/data/{w.task}/validation.jsonl",
    }
    sampler = training_sampler()
    if sampler is not None and sampler.startswith("results/"):
        inputs["sampler"] = sampler
    return inputs


def round_rules():
    """The round-making rules as (name, block, size pattern). One rule whose wildcard makes any
    round, or, with rounds_per_job > 1, one per block of consecutive rounds, limited to the
    sizes whose rounds it tiles (so a size whose last block is short never matches a longer
    one)."""
    if ADVERSARIAL["rounds_per_job"] == 1:
        return [("adversarial_round", None, None)]
    return [
        (
            f"adversarial_rounds_{first}_to_{last}",
            list(range(first, last + 1)),
            "(?:" + "|".join(re.escape(size) for size in sorted(sizes)) + ")",
        )
        for (first, last), sizes in sorted(grid.round_blocks(config).items())
    ]


def job_file(block, pattern):
    """A per-job file (log, benchmark) named after the round or the block of rounds."""
    name = "round{round}" if block is None else f"rounds{block[0]}-{block[-1]}"
    return pattern.format(cell="{family}/{size}/{task}/seed{seed}", name=name)


def trained_models():
    return [
        MODEL_CELL.format(
            family=FAMILY, size=size, task=task, seed=seed, round=rounds_of(size, task)
        )
        for size, task, seed in cells(config)
        if rounds_of(size, task) > 0
    ]


def attack_rules():
    """The attack rules as (name, trained, {attack: budgets}, tasks): one per distinct set of
    attacks and ladders on the finetuned or the trained rounds, a set being one attack
    (`attack_jobs: per_attack`) or every attack on a model (`per_model`)."""
    tasks = sorted({task for _, task, _ in cells(config)})
    per_model = config["attack_jobs"] == "per_model"
    rules_ = []
    for kind, trained in (("finetuned", False), ("trained", True)):
        by_set = {}
        for task in tasks:
            ladders = []
            for attack in sorted(config["attacks"]):  # reordering the config reruns nothing
                settings = attack_evaluation(config["attacks"][attack], task, trained)
                if settings is not None:
                    ladders.append((attack, tuple(sorted(settings["budgets"]))))
            for job_set in [tuple(ladders)] if per_model and ladders else [(l,) for l in ladders]:
                by_set.setdefault(job_set, []).append(task)
        names = {}
        for job_set, set_tasks in sorted(by_set.items()):
            stem = "attacks" if per_model else f"attack_{job_set[0][0]}"
            names[stem] = names.get(stem, 0) + 1
            suffix = f"_{names[stem]}" if names[stem] > 1 else ""
            rules_.append((f"{stem}_{kind}{suffix}", trained, dict(job_set), set_tasks))
    return rules_


def attack_log(ladders, pattern):
    """A per-job file (log, benchmark) named after the job's attacks: gcg, beast+gcg, ..."""
    cell = "{family}/{size}/{task}/seed{seed}/round{round}"
    return pattern.format(cell=cell, name="+".join(ladders))


def attack_outputs(ladders):
    """Each attack's and budget's records and state, named <attack>_records<budget> and
    <attack>_state<budget>."""
    outputs = {}
    for attack, ladder in ladders.items():
        for budget in ladder:
            stem = ATTACK_CELL.replace("{attack}", attack).replace("{budget}", str(budget))
            outputs[f"{attack}_records{budget}"] = f"{stem}.parquet"
            outputs[f"{attack}_state{budget}"] = f"{stem}.state.pt"
    return outputs


def attacks_job(w, attacks):
    """An attack job's settings (robustness_scaling.jobs.attack.Attacks): each of ``attacks``'
    settings on its task and round and its ladder of budgets. The ladder is not in the key of
    an attack's store of finished budgets (Attack.binding), so adding a budget reruns the job,
    which restores the budgets it already made and computes only the new ones; an attack whose
    settings did not change restores all of its budgets. The settings of other tasks or rounds
    (`per_task`, `trained`) rerun nothing here."""
    folders = dict(w.items())
    return {
        "family": w.family,
        "size": w.size,
        "task": w.task,
        "seed": int(w.seed),
        "round": int(w.round),
        "task_settings": task_params(w.task, *DATA_KEYS, "model_source", "finetune"),
        "attacks": [
            {
                "attack": attack,
                "settings": settings_without_budgets(attack, w.task, w.round),
                "budgets": budgets(attack, w.task, w.round),
                "sampler": sampler_of(attack),
                "resume": f"{RESUME}/{ATTACK_DIR.removeprefix('results/')}".format(
                    **folders, attack=attack
                ),
                "store": f"results/.ladder/{ATTACK_DIR.removeprefix('results/')}".format(
                    **folders, attack=attack
                ),
            }
            for attack in attacks
        ],
    }


@cache
def settings_without_budgets(attack, task, round):
    settings = evaluation(attack, task, round)
    return canonical({k: v for k, v in settings.items() if k != "budgets"})


def attacks_inputs(w, attacks):
    inputs = {
        "model": checked_model(
            f"results/models/{w.family}/{w.size}/{w.task}/seed{w.seed}/round{w.round}"
        ),
        "validation": f"results/data/{w.task}/validation.jsonl",
    }
    samplers = {sampler_of(attack) for attack in attacks} - {None}
    made_here = sorted(sampler for sampler in samplers if sampler.startswith("results/"))
    if made_here:
        inputs["samplers"] = made_here
    return inputs


def attack_targets():
    """Every evaluation attack at every budget on every evaluated round of every cell."""
    return [
        ATTACK_CELL.format(
            family=FAMILY, size=size, task=task, seed=seed, round=k, attack=attack, budget=budget
        )
        + ".parquet"
        for size, task, seed, k, attack in grid.attack_cells(config)
        for budget in budgets(attack, task, k)
    ]


def evaluated_cells():
    """(largest-budget records, attacked model) of every attack cell: the records of a cell's
    largest budget hold every iteration."""
    pairs = []
    for size, task, seed, k, attack in grid.attack_cells(config):
        cell = dict(family=FAMILY, size=size, task=task, seed=seed, round=k)
        records = ATTACK_CELL.format(**cell, attack=attack, budget=budgets(attack, task, k)[-1])
        pairs.append((f"{records}.parquet", MODEL_CELL.format(**cell)))
    return pairs
