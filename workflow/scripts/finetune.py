import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.stages.finetune_cell import finetune_cell

# Tracebacks land in the job's log, next to its progress lines; the process owns the handle.
sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115
finetune_cell(
    snakemake.wildcards.family,
    snakemake.wildcards.size,
    snakemake.wildcards.task,
    int(snakemake.wildcards.seed),
    snakemake.params.model_source,
    snakemake.input.train,
    snakemake.input.validation,
    # The whole slice: params.task_settings leaves out keys that cannot change the outputs.
    snakemake.config["task_settings"][snakemake.wildcards.task],
    snakemake.params.settings,
    {
        "device": snakemake.config["runtime"]["device"],
        "dtype": snakemake.params.dtype,
        "autocast": snakemake.params.autocast,
    },
    Path(snakemake.output[0]),
    checkpoint=Path(snakemake.params.checkpoint),
    threads=snakemake.threads,
    log=snakemake.log[0],
)
