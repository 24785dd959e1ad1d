"""Scaling trends in language-model robustness: the study's workflow.

data -> (tokenizer, pretrain: offline family) -> finetune -> adversarial round k -> attack at
budgets -> aggregate -> plot. Every cell is a file target. Run `snakemake --cores N` (the default study) or
`snakemake --cores N --configfile config/X.yaml`; `snakemake figures` redraws every figure
from results/tables/attacks.csv alone.
"""

from snakemake.utils import min_version

min_version("9.0")


# The embedded default study, unless the user names a study with --configfile: studies are
# complete on their own and are never merged key by key into the default.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/grid.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/adversarial.smk"
include: "workflow/rules/attack.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/plots.smk"


# The HTML report opens with the study's settings and its headline findings, written by the
# findings job; before that job has run, with a page saying so.
FRONT = Path(FRONT_PAGE)


report: str(FRONT.resolve()) if FRONT.exists() else "workflow/report/front/pending.rst"


rule all:
    default_target: True
    input:
        finetuned_models(),
        trained_models(),
        attack_targets(),
        rules.figures.input,
