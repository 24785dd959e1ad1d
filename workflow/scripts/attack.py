import sys
from pathlib import Path

# This checkout's library, not whatever copy the environment has (scriptdir is unresolved).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from robustness_scaling.jobs.attack import Attacks
from robustness_scaling.jobs.entry import run_rule

attacks = snakemake.params.job["attacks"]
run_rule(
    snakemake,
    Attacks,
    model=snakemake.input.model,
    validation=snakemake.input.validation,
    records={
        a["attack"]: [snakemake.output[f"{a['attack']}_records{b}"] for b in a["budgets"]]
        for a in attacks
    },
    states={
        a["attack"]: [snakemake.output[f"{a['attack']}_state{b}"] for b in a["budgets"]]
        for a in attacks
    },
)
