import sys
from pathlib import Path

# This checkout's library, not whatever copy the environment has (scriptdir is unresolved).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from robustness_scaling.jobs.attack import Attack
from robustness_scaling.jobs.entry import run_rule

budgets = snakemake.params.job["budgets"]
run_rule(
    snakemake,
    Attack,
    model=snakemake.input.model,
    validation=snakemake.input.validation,
    records=[snakemake.output[f"records{budget}"] for budget in budgets],
    states=[snakemake.output[f"state{budget}"] for budget in budgets],
)
