"""Every figure from the attacks table alone, captioned for Snakemake's report."""

FIGURE_DIR = "results/figures"
# One caption per figure of robustness_scaling.figures.FIGURES (a test keeps them in step);
# read from the captions so that planning does not import the plotting stack.
FIGURES = sorted(path.stem for path in Path(workflow.basedir, "workflow/report").glob("*.rst"))


localrules:
    plot,


rule plot:
    input:
        TABLE,
    output:
        png=[
            report(
                f"{FIGURE_DIR}/{name}.png",
                caption=f"../report/{name}.rst",
                category="Figures",
            )
            for name in FIGURES
        ],
        pdf=[f"{FIGURE_DIR}/{name}.pdf" for name in FIGURES],
    params:
        job={"options": canonical(config["figures"])},
        code=code("robustness_scaling.jobs.plot"),
    log:
        "logs/plot.log",
    conda:
        "../../envs/robustness-scaling.yaml"
    script:
        "../scripts/plot.py"


rule figures:
    """Regenerate every figure and metric table from results/tables/attacks.csv, computing
    nothing upstream of it."""
    input:
        rules.plot.output,
        rules.metric_tables.output,
