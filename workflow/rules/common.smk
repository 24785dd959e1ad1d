"""Config validation and the helpers every stage's rules share."""

import json
import sys
from functools import cache
from pathlib import Path

from snakemake.exceptions import WorkflowError

# The workflow runs the library of its own checkout (as its scripts do), so the code
# fingerprints below hash exactly the code that runs.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from robustness_scaling import grid
from robustness_scaling.by_name import GENERATION, method_module
from robustness_scaling.config import ConfigError, attack_evaluation, cells, validate_config
from robustness_scaling.models.checks import ModelSourceError, check_weights
from robustness_scaling.models.families import HUB_FAMILIES
from robustness_scaling.fingerprint import code_fingerprint
from robustness_scaling.tasks import get_task

try:
    _validated = validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
except ConfigError as error:
    raise WorkflowError(str(error)) from None
config.clear()
config.update(_validated)

FAMILY = config["family"]
RESUME = "results/.resume"
TABLE = "results/tables/attacks.csv"


def _requested_targets():
    """The targets named on the command line (the DAG settings do not exist yet at parse time)."""
    from snakemake.cli import get_argument_parser

    try:
        return set(get_argument_parser().parse_known_args(sys.argv[1:])[0].targets or ())
    except SystemExit:
        return set()


# `snakemake figures` alone plots the existing table: nothing upstream of it is planned.
FIGURES_ONLY = _requested_targets() == {"figures"}


def check_table(path, families=None):
    """A table the user brings (the reference; the attacks table under `snakemake figures`,
    which plans nothing upstream of it) is checked while planning: a bad one stops the run
    before Snakemake removes the figures it would remake. ``families``: those it may hold."""
    from robustness_scaling.analysis.tables import TableError, read_table

    try:
        table = read_table(path)
    except TableError as error:
        raise WorkflowError(f"{error}\nFix or replace the table; no figure was touched.") from None
    extra = sorted(set(table["family"]) - set(families or table["family"]))
    if extra:
        raise WorkflowError(
            f"{path} holds rows of {', '.join(extra)}, not among the families to draw "
            f"({', '.join(families)}): name every family of the table in `figures.families`"
        )


@cache
def checked_model(path):
    """A model directory a job reads, its weights checked while planning when it exists: a
    truncated one stops the run before Snakemake removes the outputs a job would remake from
    it (reading a safetensors header costs two small reads; torch is not imported)."""
    if Path(path).is_dir():
        try:
            check_weights(Path(path))
        except ModelSourceError as error:
            raise WorkflowError(
                f"{error}\nRemove {path} to have the workflow remake it."
            ) from None
    return path


wildcard_constraints:
    family=r"[^/]+",
    size=r"[^/]+",
    task=r"[^/]+",
    seed=r"\d+",


@cache
def code(*modules):
    """The fingerprint of the library code a job runs (see robustness_scaling.fingerprint): its
    job's module, what it imports by name (robustness_scaling.by_name), and the entry every
    script calls."""
    return code_fingerprint("robustness_scaling.jobs.entry", *modules)


def task_code(*modules):
    """A params function: the fingerprint of ``modules``, and of the generation path (greedy
    answers, judges) for a generation task's jobs only."""
    return lambda w: code(*modules, *([GENERATION] if is_generation(w.task) else []))


def canonical(value):
    """A config slice with keys sorted at every level, so reordering a config file reruns nothing.

    Snakemake compares params by their text; a dict's text depends on its key order.
    """
    return json.loads(json.dumps(value, sort_keys=True))


# What a model job's results depend on besides its settings: the precision it computes in.
PRECISION = canonical({k: config["runtime"][k] for k in ("dtype", "autocast")})


def job_runtime(wildcards, threads):
    """How a job runs, not what it computes: its device, and a generation task's batch of
    prompts per `generate` call. Snakemake's params trigger skips params computed from a job's
    threads (or its input, output, resources), so changing these reruns nothing; `threads`
    is taken for that reason (the job gets its threads from Snakemake directly)."""
    runtime = {"device": config["runtime"]["device"]}
    task = getattr(wildcards, "task", None)
    if task is not None and "generation_batch_size" in config["task_settings"][task]:
        runtime["generation_batch_size"] = config["task_settings"][task]["generation_batch_size"]
    return runtime


def resource(stage, key, fallback, size=None):
    """A stage's resource: the size's own (`resources.<stage>.by_size`), else the stage's, else
    the config's default, else ``fallback``."""
    stages = config["resources"]
    own = stages.get(stage, {})
    for scope in (own.get("by_size", {}).get(size, {}), own, stages.get("default", {})):
        if key in scope:
            return scope[key]
    return fallback


def stage_resources(stage, sized=False):
    """The resources a rule declares, so they hold under any profile (GPU only when asked for);
    with `sized`, each job's are its size's (the rule has a {size} wildcard)."""

    def value(key, fallback):
        if not sized:
            return resource(stage, key, fallback)
        return lambda w: resource(stage, key, fallback, w.size)

    declared = {"mem_mb": value("mem_mb", 2000), "runtime": value("runtime", 60)}
    by_size = config["resources"].get(stage, {}).get("by_size", {})
    if resource(stage, "gpu", 0) or any(s.get("gpu") for s in by_size.values()):
        declared["gpu"] = value("gpu", 0)
    return declared


SIZE_RANK = {
    size: rank
    for rank, size in enumerate(
        sorted(config["sizes"], key=lambda size: grid.classifier_params_of(config, size))
    )
}


def stage_priority(stage):
    """A sized rule's priority: larger sizes first, and training before attacks. A larger
    size's chain of training jobs is the study's longest path, so starting it first shortens
    the run; Snakemake otherwise starts the ready jobs with the largest inputs."""
    base = 0 if stage == "attack" else len(SIZE_RANK)
    return lambda w: base + SIZE_RANK[w.size]


def stage_threads(stage):
    """A sized rule's threads: its size's, else its stage's (see `resource`)."""
    return lambda w: resource(stage, "threads", 1, w.size)


def model_source(size, task=None):
    """Where the finetune stage loads a size from: our pretrained tiny model, or the hub (a
    task may name its own victims, e.g. StrongREJECT's instruct models)."""
    if FAMILY == "tiny":
        return f"results/models/tiny/{size}/pretrained"
    template = config.get("model_source", HUB_FAMILIES[FAMILY].source)
    if task is not None:
        template = config["task_settings"][task].get("model_source", template)
    return template.format(size=size)


@cache
def task_params(task, *ignored):
    """A task's settings as a job reads them, without the keys that cannot change its outputs
    (`ignored`) and without the generation batch size, which is the job's runtime."""
    left_out = {*ignored, "generation_batch_size"}
    return canonical({k: v for k, v in config["task_settings"][task].items() if k not in left_out})


# A generation task's keys that only its attacks read.
READ_BY_ATTACKS_ONLY = ("attacked_labels", "judge_at")


def is_generation(task):
    return get_task(task).is_generation


def finetuned_models():
    return [
        f"results/models/{FAMILY}/{size}/{task}/seed{seed}/round0"
        for size, task, seed in cells(config)
    ]


# Where each cell's outputs live.
MODEL_CELL = "results/models/{family}/{size}/{task}/seed{seed}/round{round}"
ATTACK_DIR = "results/attacks/{family}/{size}/{task}/seed{seed}/round{round}/{attack}"
ATTACK_CELL = "results/attacks/{family}/{size}/{task}/seed{seed}/round{round}/{attack}/budget{budget}"

ADVERSARIAL = config.get("adversarial_training")

# What a task's splits depend on; its other settings (judge, instructions, ...) rerun no data.
DATA_KEYS = (
    "seed",
    "train_size",
    "val_size",
    "source",
    "revision",
    "files",
    "columns",
    "splits",
    "shuffle",
)

CORPUS_TASKS = config["tiny"]["corpus_tasks"] if FAMILY == "tiny" else []


def corpus_settings():
    return [config["task_settings"][task]["include_instructions"] for task in CORPUS_TASKS]


def beast_sampler():
    """BEAST's proposal LM: the family's smallest base LM (pythia-14m, Qwen2.5-0.5B, tiny's)."""
    if FAMILY != "tiny":
        return HUB_FAMILIES[FAMILY].smallest_base_lm
    sizes = config["tiny"]["sizes"]
    smallest = min(sizes, key=lambda s: sizes[s]["hidden_size"] ** 2 * sizes[s]["num_layers"])
    return model_source(smallest)



def sampler_of(attack):
    settings = config["attacks"][attack]
    if settings["method"] != "beast":
        return None
    return settings.get("sampler", beast_sampler())
