from pathlib import Path

from robustness_scaling.stages import pretrain_size

pretrain_size(
    snakemake.input.corpus,
    snakemake.params.include_instructions,
    snakemake.input.tokenizer,
    snakemake.params.size,
    snakemake.params.settings,
    {"device": snakemake.config["runtime"]["device"], "dtype": snakemake.params.dtype},
    Path(snakemake.output[0]),
    checkpoint=Path(f"results/.resume/pretrain/tiny/{snakemake.wildcards.size}.pt"),
    threads=snakemake.threads,
    log=snakemake.log[0],
)
