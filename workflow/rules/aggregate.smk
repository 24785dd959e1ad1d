"""Aggregate every attack cell into the tidy attacks table, then the metric tables."""


def evaluated_cells():
    """(largest-budget records, attacked model) of every attack cell: the records of a cell's
    largest budget hold every iteration."""
    pairs = []
    for size, task, seed in cells(config):
        for k in eval_rounds_of(size, task):
            cell = dict(family=FAMILY, size=size, task=task, seed=seed, round=k)
            for attack in attacks_on(task, k):
                budget = budgets(attack, task, k)[-1]
                records = ATTACK_CELL.format(**cell, attack=attack, budget=budget)
                pairs.append((f"{records}.parquet", MODEL_CELL.format(**cell)))
    return pairs


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
            training_attack=ADVERSARIAL["attack_name"] if ADVERSARIAL else "",
            code=code("robustness_scaling.stages.aggregate_tables"),
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
        code=code("robustness_scaling.stages.aggregate_tables"),
    log:
        "logs/metric_tables.log",
    conda:
        "../../envs/robustness-scaling.yaml"
    script:
        "../scripts/metric_tables.py"
