import sys
from pathlib import Path

# This checkout's library, not whatever copy the environment has (scriptdir is unresolved).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from robustness_scaling.jobs.entry import run_rule
from robustness_scaling.jobs.pretrain import Pretrain

run_rule(
    snakemake,
    Pretrain,
    corpus=list(snakemake.input.corpus),
    tokenizer=snakemake.input.tokenizer,
    out=snakemake.output[0],
)
