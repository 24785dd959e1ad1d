import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.jobs.entry import run_rule
from robustness_scaling.jobs.tokenizer import Tokenizer

run_rule(snakemake, Tokenizer, corpus=list(snakemake.input.corpus), out=snakemake.output[0])
