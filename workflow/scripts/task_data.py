import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.jobs.entry import run_rule
from robustness_scaling.jobs.task_data import TaskData

run_rule(
    snakemake,
    TaskData,
    train=snakemake.output.train,
    validation=snakemake.output.validation,
)
