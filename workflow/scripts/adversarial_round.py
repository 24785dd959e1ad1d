import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.stages.adversarial_round import adversarial_round_cell

# Tracebacks land in the job's log, next to its progress lines; the process owns the handle.
sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115
w = snakemake.wildcards
previous = Path(snakemake.input.previous)
# One round, or a block of consecutive rounds, each made from the one before (adversarial.smk).
for k, out, resume in zip(
    snakemake.params.rounds, snakemake.output, snakemake.params.resume, strict=True
):
    # A round depends on the ramp's horizon, not on how many rounds follow it.
    horizon = max(k, snakemake.params.settings.get("ramp_rounds") or 0)
    adversarial_round_cell(
        k,
        horizon,
        w.task,
        int(w.seed),
        previous,
        Path(snakemake.input.train),
        Path(snakemake.input.validation),
        snakemake.params.task_settings,
        snakemake.params.settings,
        snakemake.params.sampler,
        {
            "device": snakemake.config["runtime"]["device"],
            "dtype": snakemake.params.dtype,
            "autocast": snakemake.params.autocast,
        },
        Path(out),
        Path(resume),
        threads=snakemake.threads,
        log=snakemake.log[0],
    )
    previous = Path(out)
