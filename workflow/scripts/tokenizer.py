import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.stages.tiny_family import tokenizer

# Tracebacks land in the job's log, next to its progress lines; the process owns the handle.
sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115
tokenizer(
    snakemake.input.corpus,
    snakemake.params.include_instructions,
    snakemake.params.vocab_size,
    snakemake.output[0],
    log=snakemake.log[0],
)
