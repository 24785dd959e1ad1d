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
params = snakemake.params
binding = {
    "cell": cell,
    "device": snakemake.config["runtime"]["device"],
    **{
        k: getattr(params, k)
        for k in ("attack", "task_settings", "sampler", "dtype", "autocast", "code")
    },
}
attack_cell(
    params.attack,
    w.attack,
    w.task,
    # The whole slice: params.task_settings leaves out keys that cannot change the outputs.
    snakemake.config["task_settings"][w.task],
    Path(snakemake.input.model),
    Path(snakemake.input.validation),
    params.sampler,
    cell,
    {"device": binding["device"], "dtype": params.dtype, "autocast": params.autocast},
    {
        budget: (
            Path(snakemake.output[f"records{budget}"]),
            Path(snakemake.output[f"state{budget}"]),
        )
        for budget in params.budgets
    },
    Path(params.resume),
    Path(params.store),
    binding,
    threads=snakemake.threads,
    log=snakemake.log[0],
)
