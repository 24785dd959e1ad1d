"""Task splits: generated (PasswordMatch, WordLength) or loaded (hub or local files)."""


localrules:
    task_data,


rule task_data:
    output:
        train="results/data/{task}/train.jsonl",
        validation="results/data/{task}/validation.jsonl",
    params:
        job=lambda w: {
            "task": w.task,
            "settings": canonical(
                {k: v for k, v in config["task_settings"][w.task].items() if k in DATA_KEYS}
            ),
        },
        code=code("robustness_scaling.jobs.task_data"),
    log:
        "logs/data/{task}.log",
    threads: 1
    resources:
        **stage_resources("data"),
    conda:
        "../../envs/robustness-scaling.yaml"
    script:
        "../scripts/task_data.py"
