import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.stages.aggregate_tables import metric_tables

# Tracebacks land in the job's log, next to its progress lines; the process owns the handle.
sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115
metric_tables(
    Path(snakemake.input[0]),
    Path(snakemake.output.slopes),
    Path(snakemake.output.offense_defense),
    log=snakemake.log[0],
)
