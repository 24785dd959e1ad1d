import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.stages.attack_cell import attack_cell

# Tracebacks land in the job's log, next to its progress lines; the process owns the handle.
sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115
w = snakemake.wildcards
cell = {
    "family": w.family,
    "size": w.size,
    "task": w.task,
    "seed": int(w.seed),
    "round": int(w.round),
}
previous = None
if hasattr(snakemake.input, "previous_state"):
    previous = (Path(snakemake.input.previous_records), Path(snakemake.input.previous_state))
attack_cell(
    snakemake.params.attack,
    w.attack,
    w.task,
    # The whole slice: params.task_settings leaves out keys that cannot change the outputs.
    snakemake.config["task_settings"][snakemake.wildcards.task],
    Path(snakemake.input.model),
    Path(snakemake.input.validation),
    int(w.budget),
    previous,
    snakemake.params.sampler,
    cell,
    {
        "device": snakemake.config["runtime"]["device"],
        "dtype": snakemake.params.dtype,
        "autocast": snakemake.params.autocast,
    },
    (Path(snakemake.output.records), Path(snakemake.output.state)),
    Path(snakemake.params.resume),
    threads=snakemake.threads,
    log=snakemake.log[0],
)
