"""The offline family: a BPE tokenizer on the task corpus, then causal-LM pretraining per size."""


localrules:
    tokenizer,  # seconds of work: not worth a cluster job and its queueing


rule tokenizer:
    input:
        corpus=expand("results/data/{task}/train.jsonl", task=CORPUS_TASKS),
    output:
        directory("results/models/tiny/tokenizer"),
    params:
        job={
            "include_instructions": corpus_settings(),
            "vocab_size": config.get("tiny", {}).get("vocab_size"),
        },
        code=code("robustness_scaling.jobs.tokenizer"),
    log:
        "logs/tokenizer.log",
    threads: 1
    resources:
        **stage_resources("pretrain"),
    conda:
        "../../envs/robustness-scaling.yaml"
    script:
        "../scripts/tokenizer.py"


rule pretrain:
    input:
        corpus=expand("results/data/{task}/train.jsonl", task=CORPUS_TASKS),
        tokenizer="results/models/tiny/tokenizer",
    output:
        directory("results/models/tiny/{size}/pretrained"),
    params:
        job=lambda w: {
            "include_instructions": corpus_settings(),
            "size": canonical(config["tiny"]["sizes"][w.size]),
            "settings": canonical(config["tiny"]["pretrain"]),
            "resume": f"{RESUME}/pretrain/tiny/{w.size}",
        },
        precision=PRECISION,
        runtime=job_runtime,
        code=code("robustness_scaling.jobs.pretrain"),
    log:
        "logs/pretrain/tiny/{size}.log",
    benchmark:
        "results/benchmarks/pretrain/tiny/{size}.tsv"
    priority: stage_priority("pretrain")
    threads: stage_threads("pretrain")
    resources:
        **stage_resources("pretrain", sized=True),
    conda:
        "../../envs/robustness-scaling.yaml"
    script:
        "../scripts/pretrain.py"
