"""Adversarial training as a chain of cached rounds: round k is made from round k-1."""

from functools import partial

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
                job=partial(round_job, block=block),
                precision=PRECISION,
                runtime=job_runtime,
                code=code(
                    "robustness_scaling.jobs.adversarial_round",
                    method_module(ADVERSARIAL["attack_method"]),
                ),
            log:
                job_file(block, "logs/adversarial/{cell}/{name}.log"),
            benchmark:
                job_file(block, "results/benchmarks/adversarial/{cell}/{name}.tsv")
            priority: stage_priority("adversarial_round")
            threads: stage_threads("adversarial_round")
            resources:
                **stage_resources("adversarial_round", sized=True),
            conda:
                "../../envs/robustness-scaling.yaml"
            script:
                "../scripts/adversarial_round.py"
