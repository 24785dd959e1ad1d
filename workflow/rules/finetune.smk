"""Full finetuning of each family × size × task × seed cell: adversarial-training round 0."""


rule finetune:
    input:
        unpack(finetune_inputs),
    output:
        directory("results/models/{family}/{size}/{task}/seed{seed}/round0"),
    params:
        job=finetune_job,
        precision=PRECISION,
        runtime=job_runtime,
        code=task_code("robustness_scaling.jobs.finetune"),
    log:
        "logs/finetune/{family}/{size}/{task}/seed{seed}.log",
    benchmark:
        "results/benchmarks/finetune/{family}/{size}/{task}/seed{seed}.tsv"
    priority: stage_priority("finetune")
    threads: stage_threads("finetune")
    resources:
        **stage_resources("finetune", sized=True),
    conda:
        "../../envs/robustness-scaling.yaml"
    script:
        "../scripts/finetune.py"
