import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.jobs.aggregate import Aggregate
from robustness_scaling.jobs.entry import run_rule

run_rule(
    snakemake,
    Aggregate,
    cells=list(snakemake.input.cells),
    models=list(snakemake.input.models),
    out=snakemake.output[0],
)
