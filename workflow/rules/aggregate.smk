"""Aggregate every attack cell into the tidy attacks table, then the metric tables."""


localrules:
    metric_tables,


if not FIGURES_ONLY:

    localrules:
        aggregate,

    rule aggregate:
        input:
            cells=[records for records, _ in evaluated_cells()],
            models=[model for _, model in evaluated_cells()],
        output:
            TABLE,
        params:
            job={"training_attack": ADVERSARIAL["attack_name"] if ADVERSARIAL else ""},
            code=code("robustness_scaling.jobs.aggregate"),
        log:
            "logs/aggregate.log",
        conda:
            "../../envs/robustness-scaling.yaml"
        script:
            "../scripts/aggregate.py"


rule metric_tables:
    input:
        TABLE,
    output:
        slopes="results/tables/slopes.csv",
        offense_defense="results/tables/offense_defense.csv",
    params:
        job={},
        code=code("robustness_scaling.jobs.metric_tables"),
    log:
        "logs/metric_tables.log",
    conda:
        "../../envs/robustness-scaling.yaml"
    script:
        "../scripts/metric_tables.py"
