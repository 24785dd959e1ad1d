import sys
from pathlib import Path

# This checkout's library, not whatever copy the environment has (scriptdir is unresolved).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from robustness_scaling.jobs.entry import run_rule
from robustness_scaling.jobs.findings import Findings

run_rule(snakemake, Findings, table=snakemake.input.table, out=snakemake.output[0])
