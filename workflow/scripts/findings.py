import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.jobs.entry import run_rule
from robustness_scaling.jobs.findings import Findings

run_rule(snakemake, Findings, table=snakemake.input.table, out=snakemake.output[0])
