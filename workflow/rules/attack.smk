"""Attacks at compute budgets: one job runs an attack's budget ladder on one model, or every
attack's (`attack_jobs: per_model`).

A rule cannot have a number of outputs that depends on its wildcards, so there is one rule per
distinct set of attacks and ladders (the entries' own, their `trained` or `per_task` ones),
each limited by wildcard constraints to the tasks and rounds that set is for.
"""

import re
from functools import partial

for rule_name, trained, ladders, set_tasks in attack_rules():

    rule:
        name:
            rule_name
        input:
            unpack(partial(attacks_inputs, attacks=list(ladders))),
        output:
            **attack_outputs(ladders),
        wildcard_constraints:
            task="|".join(map(re.escape, set_tasks)),
            round=r"[1-9]\d*" if trained else "0",
        params:
            job=partial(attacks_job, attacks=list(ladders)),
            precision=PRECISION,
            runtime=job_runtime,
            code=task_code(
                "robustness_scaling.jobs.attack",
                *(method_module(config["attacks"][name]["method"]) for name in ladders),
            ),
        log:
            attack_log(ladders, "logs/attacks/{cell}/{name}.log"),
        benchmark:
            attack_log(ladders, "results/benchmarks/attacks/{cell}/{name}.tsv")
        priority: stage_priority("attack")
        threads: stage_threads("attack")
        resources:
            **stage_resources("attack", sized=True),
        conda:
            "../../envs/robustness-scaling.yaml"
        script:
            "../scripts/attack.py"
