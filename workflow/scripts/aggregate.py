import sys
from pathlib import Path

# This checkout's library, not whatever copy the environment has (scriptdir is unresolved).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from robustness_scaling.jobs.aggregate import Aggregate
from robustness_scaling.jobs.entry import run_rule

run_rule(
    snakemake,
    Aggregate,
    cells=list(snakemake.input.cells),
    models=list(snakemake.input.models),
    out=snakemake.output[0],
)
