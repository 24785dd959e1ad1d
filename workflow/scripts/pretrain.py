import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.stages.tiny_family import pretrain_size

# Tracebacks land in the job's log, next to its progress lines; the process owns the handle.
sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115
pretrain_size(
    snakemake.input.corpus,
    snakemake.params.include_instructions,
    snakemake.input.tokenizer,
    snakemake.params.size,
    snakemake.params.settings,
    {
        "device": snakemake.config["runtime"]["device"],
        "dtype": snakemake.params.dtype,
        "autocast": snakemake.params.autocast,
    },
    Path(snakemake.output[0]),
    checkpoint=Path(snakemake.params.checkpoint),
    threads=snakemake.threads,
    log=snakemake.log[0],
)
