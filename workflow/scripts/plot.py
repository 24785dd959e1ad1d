import sys
from pathlib import Path

# This checkout's library, not whatever copy the environment has (scriptdir is unresolved).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from robustness_scaling.jobs.entry import run_rule
from robustness_scaling.jobs.plot import Plot

run_rule(
    snakemake,
    Plot,
    table=snakemake.input.table,
    reference=snakemake.input.reference[0] if snakemake.input.reference else None,
    out_dir=Path(snakemake.output.png[0]).parents[1],
)
