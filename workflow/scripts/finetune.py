import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.jobs.entry import run_rule
from robustness_scaling.jobs.finetune import Finetune

run_rule(
    snakemake,
    Finetune,
    train=snakemake.input.train,
    validation=snakemake.input.validation,
    out=snakemake.output[0],
)
