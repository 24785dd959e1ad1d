import sys
from pathlib import Path

# This checkout's library, not whatever copy the environment has (scriptdir is unresolved).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from robustness_scaling.jobs.adversarial_round import AdversarialRounds
from robustness_scaling.jobs.entry import run_rule

run_rule(
    snakemake,
    AdversarialRounds,
    previous=snakemake.input.previous,
    train=snakemake.input.train,
    validation=snakemake.input.validation,
    outs=list(snakemake.output),
)
