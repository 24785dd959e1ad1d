import sys
from pathlib import Path

# This checkout's library, not whatever copy the environment has (scriptdir is unresolved).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from robustness_scaling.jobs.entry import run_rule
from robustness_scaling.jobs.metric_tables import MetricTables

run_rule(
    snakemake,
    MetricTables,
    table=snakemake.input[0],
    slopes=snakemake.output.slopes,
    offense_defense=snakemake.output.offense_defense,
)
