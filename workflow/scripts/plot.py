import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.stages.plot_figures import figures

# Tracebacks land in the job's log, next to its progress lines; the process owns the handle.
sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115
figures(
    Path(snakemake.input[0]),
    Path(snakemake.output.png[0]).parent,
    snakemake.params.options,
    log=snakemake.log[0],
)
