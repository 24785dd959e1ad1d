import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # also in a conda env

from robustness_scaling.jobs.entry import run_rule
from robustness_scaling.jobs.metric_tables import MetricTables

run_rule(
    snakemake,
    MetricTables,
    table=snakemake.input[0],
    slopes=snakemake.output.slopes,
    offense_defense=snakemake.output.offense_defense,
)
