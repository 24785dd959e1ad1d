import sys
from pathlib import Path

# This checkout's library, not whatever copy the environment has (scriptdir is unresolved).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from robustness_scaling.jobs.entry import run_rule
from robustness_scaling.jobs.tokenizer import Tokenizer

run_rule(snakemake, Tokenizer, corpus=list(snakemake.input.corpus), out=snakemake.output[0])
