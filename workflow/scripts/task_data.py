import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.stages.task_data import task_data

# Tracebacks land in the job's log, next to its progress lines; the process owns the handle.
sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115
task_data(
    snakemake.wildcards.task,
    snakemake.params.settings,
    snakemake.output.train,
    snakemake.output.validation,
    log=snakemake.log[0],
)
