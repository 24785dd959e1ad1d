"""Every figure from the attacks table alone, captioned for Snakemake's report."""

FIGURE_DIR = "results/figures"
FRONT_PAGE = "results/report/front.rst"
# One caption per figure of robustness_scaling.figures.FIGURES (a test keeps them in step);
# read from the captions so that planning does not import the plotting stack.
FIGURES = sorted(path.stem for path in Path(workflow.basedir, "workflow/report").glob("*.rst"))
# One figure of each type per family: the study's own, or those `figures.families` names (a table
# of several families given to `snakemake figures`).
FIGURE_FAMILIES = config["figures"].get("families", [config["family"]])
REFERENCE = config["figures"].get("reference")
FIGURE_OPTIONS = canonical(
    {k: v for k, v in config["figures"].items() if k not in ("families", "reference")}
)


if FIGURES_ONLY:
    check_table(TABLE, FIGURE_FAMILIES)
if REFERENCE:
    check_table(REFERENCE)


localrules:
    plot,
    findings,


rule plot:
    input:
        table=TABLE,
        reference=[REFERENCE] if REFERENCE else [],
    output:
        png=[
            report(
                f"{FIGURE_DIR}/{family}/{name}.png",
                caption=f"../report/{name}.rst",
                category="Figures",
                subcategory=family,
            )
            for family in FIGURE_FAMILIES
            for name in FIGURES
        ],
        pdf=[f"{FIGURE_DIR}/{family}/{name}.pdf" for family in FIGURE_FAMILIES for name in FIGURES],
    params:
        job={"options": FIGURE_OPTIONS, "families": FIGURE_FAMILIES},
        code=code("robustness_scaling.jobs.plot"),
    log:
        "logs/plot.log",
    conda:
        "../../envs/robustness-scaling.yaml"
    script:
        "../scripts/plot.py"


rule findings:
    """The report's front page: the study's settings, then its four headline findings with
    this run's numbers."""
    input:
        table=TABLE,
    output:
        FRONT_PAGE,
    params:
        job={
            "options": FIGURE_OPTIONS,
            "study": canonical(
                {
                    key: config.get(key)
                    for key in ("study", "family", "sizes", "tasks", "seeds")
                }
                | {
                    "runtime": {k: config["runtime"][k] for k in ("dtype", "autocast")},
                    "attacks": {name: a["budgets"] for name, a in config["attacks"].items()},
                    "adversarial_training": (
                        {k: ADVERSARIAL[k] for k in ("attack_name", "rounds")}
                        if ADVERSARIAL
                        else None
                    ),
                }
            ),
        },
        code=code("robustness_scaling.jobs.findings"),
    log:
        "logs/findings.log",
    conda:
        "../../envs/robustness-scaling.yaml"
    script:
        "../scripts/findings.py"


rule figures:
    """Regenerate every figure and metric table from results/tables/attacks.csv, computing
    nothing upstream of it."""
    input:
        rules.plot.output,
        rules.metric_tables.output,
        rules.findings.output,
