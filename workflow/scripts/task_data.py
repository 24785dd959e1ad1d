import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.stages.task_data import task_data

task_data(
    snakemake.wildcards.task,
    snakemake.params.settings,
    snakemake.output.train,
    snakemake.output.validation,
    log=snakemake.log[0],
)
