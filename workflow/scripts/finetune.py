import sys
from pathlib import Path

# This checkout's library, not whatever copy the environment has (scriptdir is unresolved).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from robustness_scaling.jobs.entry import run_rule
from robustness_scaling.jobs.finetune import Finetune

run_rule(
    snakemake,
    Finetune,
    train=snakemake.input.train,
    validation=snakemake.input.validation,
    out=snakemake.output[0],
)
