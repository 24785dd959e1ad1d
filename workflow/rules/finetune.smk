"""Full finetuning of each family × size × task × seed cell: adversarial-training round 0."""


rule finetune:
    input:
        unpack(finetune_inputs),
    output:
        directory("results/models/{family}/{size}/{task}/seed{seed}/round0"),
    params:
        model_source=lambda w: model_source(w.size, w.task),
        task_settings=lambda w: task_params(
            w.task, "attacked_labels", "generation_batch_size", "judge_at"
        ),
        settings=canonical(config["finetune"]),
        dtype=config["runtime"]["dtype"],
        autocast=config["runtime"]["autocast"],
        checkpoint=lambda w: f"{RESUME}/finetune/{w.family}/{w.size}/{w.task}/seed{w.seed}.pt",
        code=task_code("robustness_scaling.stages.finetune_cell"),
    log:
        "logs/finetune/{family}/{size}/{task}/seed{seed}.log",
    benchmark:
        "results/benchmarks/finetune/{family}/{size}/{task}/seed{seed}.tsv"
    priority: 1
    threads: resource("finetune", "threads", 1)
    resources:
        **stage_resources("finetune"),
    conda:
        "../../envs/robustness-scaling.yaml"
    script:
        "../scripts/finetune.py"
