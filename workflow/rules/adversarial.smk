"""Adversarial training as a chain of cached rounds: round k is made from round k-1."""

import re
from functools import cache, partial

from robustness_scaling.adversarial_training import evaluation_rounds, number_of_rounds
from robustness_scaling.tiny_family import classifier_params

ADVERSARIAL = config.get("adversarial_training")
MODEL_CELL = "results/models/{family}/{size}/{task}/seed{seed}/round{round}"


def n_params_of(size):
    """A size's classifier parameter count, known while planning (no model is built)."""
    if FAMILY == "tiny":
        return classifier_params(config["tiny"]["sizes"][size], config["tiny"]["vocab_size"])
    return HUB_FAMILIES[FAMILY].sizes[size].classifier_params


@cache
def rounds_of(size, task):
    """Adversarial-training rounds of a size; 0 for a finetuning-only study, for a size that a
    size -> rounds mapping leaves out (the paper trained Pythia up to 2.8b only), and for a
    generation task (adversarial training trains classifiers)."""
    if not ADVERSARIAL or is_generation(task):
        return 0
    spec = ADVERSARIAL["rounds"]
    if isinstance(spec, dict) and "rounds_times_params" not in spec and size not in spec:
        return 0
    return number_of_rounds(spec, size, config["sizes"], n_params_of(size))


def eval_rounds_of(size, task):
    """The rounds of a size that the evaluation attacks attack (always round 0)."""
    n_rounds = rounds_of(size, task)
    if n_rounds == 0:
        return [0]
    spec = ADVERSARIAL["eval_rounds"]
    if isinstance(spec, int):
        return evaluation_rounds(n_rounds, spec)
    return sorted({0, *(r for r in spec if r <= n_rounds)})


@cache
def round_settings(size, task):
    """What a round depends on: the settings, plus the round count only while the ramp spans it."""
    planning = ("rounds", "eval_rounds", "rounds_per_job")
    settings = {k: v for k, v in ADVERSARIAL.items() if k not in planning}
    settings["n_train"] = config["finetune"]["n_train"]
    settings["n_val"] = config["finetune"]["n_val"]
    if settings["ramp"] and "ramp_rounds" not in settings:
        settings["ramp_rounds"] = rounds_of(size, task)
    return canonical(settings)


def training_sampler():
    if ADVERSARIAL["attack_method"] != "beast":
        return None
    return beast_sampler()


def round_dir(w, k):
    """Round k's model directory of the job's family × size × task × seed cell."""
    return MODEL_CELL.format(**{**dict(w.items()), "round": k})


def round_inputs(w, block):
    inputs = {
        "previous": round_dir(w, block[0] - 1 if block else int(w.round) - 1),
        "train": f"results/data/{w.task}/train.jsonl",
        "validation": f"results/data/{w.task}/validation.jsonl",
    }
    sampler = training_sampler()
    if sampler is not None and sampler.startswith("results/"):
        inputs["sampler"] = sampler
    return inputs


def round_blocks():
    """Each block of consecutive rounds that one job makes, with the sizes whose rounds it
    tiles: `rounds_per_job` at a time, the last block of a size shorter where its rounds end."""
    per_job = ADVERSARIAL["rounds_per_job"]
    blocks = {}
    for size, task, _ in cells(config):
        n_rounds = rounds_of(size, task)
        for first in range(1, n_rounds + 1, per_job):
            blocks.setdefault((first, min(first + per_job - 1, n_rounds)), set()).add(size)
    return blocks


def round_rules():
    """(rule name, block, size pattern) per rule: one rule whose wildcard makes any round, or,
    with rounds_per_job > 1, a rule per block of consecutive rounds, limited to the sizes whose
    rounds it tiles (so a size whose last block is short never matches a longer one)."""
    if ADVERSARIAL["rounds_per_job"] == 1:
        return [("adversarial_round", None, None)]
    return [
        (
            f"adversarial_rounds_{first}_to_{last}",
            list(range(first, last + 1)),
            "(?:" + "|".join(re.escape(size) for size in sorted(sizes)) + ")",
        )
        for (first, last), sizes in sorted(round_blocks().items())
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


if ADVERSARIAL:

    for rule_name, block, block_sizes in round_rules():

        rule:
            name:
                rule_name
            input:
                unpack(partial(round_inputs, block=block)),
            output:
                [directory(MODEL_CELL.replace("{round}", str(k))) for k in block]
                if block
                else directory(MODEL_CELL),
            wildcard_constraints:
                round=r"[1-9]\d*",
                **({"size": block_sizes} if block_sizes else {}),
            params:
                rounds=block or (lambda w: [int(w.round)]),
                settings=lambda w: round_settings(w.size, w.task),
                task_settings=lambda w: canonical(config["task_settings"][w.task]),
                sampler=training_sampler(),
                dtype=config["runtime"]["dtype"],
                autocast=config["runtime"]["autocast"],
                resume=[f"{RESUME}/{MODEL_CELL.replace('{round}', str(k))}" for k in block]
                if block
                else [f"{RESUME}/{MODEL_CELL}"],
                code=code("robustness_scaling.stages.adversarial_round"),
            log:
                job_file(block, "logs/adversarial/{cell}/{name}.log"),
            benchmark:
                job_file(block, "results/benchmarks/adversarial/{cell}/{name}.tsv")
            threads: resource("adversarial_round", "threads", 1)
            resources:
                **stage_resources("adversarial_round"),
            conda:
                "../../envs/robustness-scaling.yaml"
            script:
                "../scripts/adversarial_round.py"
