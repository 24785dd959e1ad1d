"""Attacks at compute budgets: one job runs an attack's budget ladder on one model.

A rule cannot have a number of outputs that depends on its wildcards, so there is one rule per
distinct ladder of an attack entry (the entry's own, its `trained` or a `per_task` one), each
limited by wildcard constraints to the tasks and rounds that ladder is for.
"""

import re

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
            job=attack_job,
            precision=PRECISION,
            runtime=job_runtime,
            code=task_code(
                "robustness_scaling.jobs.attack",
                method_module(config["attacks"][attack_name]["method"]),
            ),
        log:
            "logs/attacks/{family}/{size}/{task}/seed{seed}/round{round}/{attack}.log",
        benchmark:
            "results/benchmarks/attacks/{family}/{size}/{task}/seed{seed}/round{round}/{attack}.tsv"
        threads: stage_threads("attack")
        resources:
            **stage_resources("attack", sized=True),
        conda:
            "../../envs/robustness-scaling.yaml"
        script:
            "../scripts/attack.py"
