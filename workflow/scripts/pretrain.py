import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.jobs.entry import run_rule
from robustness_scaling.jobs.pretrain import Pretrain

run_rule(
    snakemake,
    Pretrain,
    corpus=list(snakemake.input.corpus),
    tokenizer=snakemake.input.tokenizer,
    out=snakemake.output[0],
)
