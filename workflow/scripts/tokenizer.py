from robustness_scaling.stages import tokenizer

tokenizer(
    snakemake.input.corpus,
    snakemake.params.include_instructions,
    snakemake.params.vocab_size,
    snakemake.output[0],
    log=snakemake.log[0],
)
