from robustness_scaling.stages import task_data

task_data(
    snakemake.wildcards.task,
    snakemake.params.settings,
    snakemake.output.train,
    snakemake.output.validation,
    log=snakemake.log[0],
)
