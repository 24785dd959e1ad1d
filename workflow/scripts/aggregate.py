import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.stages.aggregate_tables import attacks

# Tracebacks land in the job's log, next to its progress lines; the process owns the handle.
sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115
attacks(
    snakemake.input.cells,
    snakemake.input.models,
    snakemake.params.training_attack,
    Path(snakemake.output[0]),
    log=snakemake.log[0],
)
