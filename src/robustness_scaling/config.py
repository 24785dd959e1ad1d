"""Study config validation: JSON schema with defaults, then the checks a schema cannot express.

Every problem is reported at once, in one message, each line naming the config key and what is
allowed there, so a user fixes a bad config in one go and no job ever starts on it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from robustness_scaling.attack_options import ATTACK_OPTIONS
from robustness_scaling.errors import InputError
from robustness_scaling.models.families import HUB_FAMILIES
from robustness_scaling.tasks import TASKS
from robustness_scaling.tasks.registry import SYNTHETIC_TASKS

TINY = "tiny"


class ConfigError(InputError):
    """The study config is invalid; the message lists every problem."""


def _key(path: Any) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def _allowed_keys(schema: Mapping[str, Any], root: Mapping[str, Any]) -> list[str]:
    keys = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        ref = part.get("$ref", "")
        if ref.startswith("#/$defs/"):
            keys |= set(root["$defs"][ref.removeprefix("#/$defs/")].get("properties", {}))
    return sorted(keys)


def _message(error: Any, root: Mapping[str, Any]) -> str:
    where = f"`{_key(error.absolute_path)}`"
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        allowed = _allowed_keys(error.schema, root)
        if allowed:
            known = set(allowed)
            extra = sorted(k for k in error.instance if k not in known)
            return f"{where}: unknown key(s) {extra}; allowed: {', '.join(allowed)}"
    if error.validator == "enum":
        allowed = ", ".join("null" if v is None else repr(v) for v in error.validator_value)
        return f"{where}: {error.instance!r} is not allowed; allowed: {allowed}"
    return f"{where}: {error.message}"


def _with_defaults(validator_class: Any) -> Any:
    """A validator class that fills in ``default`` values while it validates."""
    from jsonschema import validators

    check_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from check_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


def _names(values: Any, allowed: Any, key: str) -> list[str]:
    unknown = [value for value in values if value not in allowed]
    if not unknown:
        return []
    return [f"`{key}`: unknown name(s) {unknown}; allowed: {', '.join(map(str, allowed))}"]


def _attack_problems(
    attacks: Mapping[str, Any], vocab_size: int | None, key: str = "attacks"
) -> list[str]:
    """Unknown methods and options, checked against the attacks' own config dataclasses."""
    problems = []
    for name, settings in attacks.items():
        where = f"{key}.{name}" if key == "attacks" else key
        method = settings.get("method", name)
        if method not in ATTACK_OPTIONS:
            problems.append(
                f"`{where}`: unknown attack method {method!r}; name the entry after one, "
                f"or set `method` to one of: {', '.join(ATTACK_OPTIONS)}"
            )
            continue
        allowed = list(ATTACK_OPTIONS[method].__dataclass_fields__)
        option_sets = [(f"{where}.attack_options", settings["options"])]
        if key == "attacks":
            option_sets = [(f"{where}.options", settings["options"])]
            option_sets += [
                (f"{where}.{part}.options", override["options"])
                for part, override in _overrides(settings)
                if "options" in override
            ]
        for options, given in option_sets:
            unknown = sorted(set(given) - set(allowed))
            if unknown:
                problems.append(
                    f"`{options}`: unknown option(s) {unknown}; allowed: {', '.join(allowed)}"
                )
            problems += _option_value_problems(options, given, ATTACK_OPTIONS[method], vocab_size)
    return problems


def _option_value_problems(
    key: str, given: Mapping[str, Any], options: type, vocab_size: int | None
) -> list[str]:
    """Each given option of the type of its default and at least its ``minimum``; GCG's
    ``top_k`` no larger than the vocabulary it ranks."""
    problems = []
    for option in dataclasses.fields(options):
        if option.name not in given:
            continue
        value, kind = given[option.name], type(option.default)
        if isinstance(value, bool) is not (kind is bool) or not isinstance(value, kind):
            problems.append(
                f"`{key}.{option.name}`: {value!r} is not of type {kind.__name__} "
                f"(default {option.default!r})"
            )
        elif value < option.metadata.get("minimum", value):
            problems.append(
                f"`{key}.{option.name}`: {value!r} is below its minimum "
                f"{option.metadata['minimum']}"
            )
    top_k = given.get("top_k")
    if vocab_size is not None and isinstance(top_k, int) and top_k > vocab_size:
        problems.append(
            f"`{key}.top_k`: {top_k} is more tokens than the vocabulary has ({vocab_size}); "
            f"allowed: 1 to {vocab_size}"
        )
    return problems


def _overrides(attack: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """An attack entry's override blocks, each with its key path below the entry."""
    blocks = [(f"per_task.{task}", o) for task, o in attack.get("per_task", {}).items()]
    if "trained" in attack:
        blocks.append(("trained", attack["trained"]))
    return blocks


def _evaluation_problems(
    name: str, attack: Mapping[str, Any], tasks: list[str], adversarial: bool
) -> list[str]:
    """Override blocks that could never apply: they would be ignored, silently."""
    where = f"attacks.{name}"
    problems = _names(attack.get("tasks", []), tasks, f"{where}.tasks")
    trained = attack.get("trained")
    if not adversarial and (attack["rounds"] == "trained" or trained is not None):
        key = f"{where}.rounds" if attack["rounds"] == "trained" else f"{where}.trained"
        problems.append(
            f"`{key}`: the study has no adversarial training, so there are no trained rounds "
            "to attack; add `adversarial_training` or attack finetuned models"
        )
    if trained is not None:
        if attack["rounds"] == "finetuned":
            problems.append(
                f"`{where}.trained`: the entry attacks finetuned models only (`rounds: "
                "finetuned`); drop `trained` or set `rounds` to all or trained"
            )
        problems += _names(trained.get("tasks", []), tasks, f"{where}.trained.tasks")
    attacked = set(attack.get("tasks", tasks)) | set((trained or {}).get("tasks", []))
    problems += _names(attack.get("per_task", {}), sorted(attacked), f"{where}.per_task")
    return problems


EVALUATION_ONLY_KEYS = ("tasks", "rounds", "trained", "per_task")
"""Keys of an attack entry that say where it runs, not how: a cell's settings leave them out."""


def attack_evaluation(attack: Mapping[str, Any], task: str, trained: bool) -> dict[str, Any] | None:
    """The settings of evaluation attack ``attack`` (a validated entry) on one task, for a
    finetuned model (round 0) or an adversarially trained round; ``None`` where the entry does
    not attack it.

    ``per_task`` settings of the task replace the entry's, then, on a trained round, ``trained``
    settings replace those (``options`` are merged key by key); ``trained.tasks`` replaces
    ``tasks`` on trained rounds. The paper's design in one entry: GCG with 10 iterations on 200
    examples for finetuned models, 128 on 500 for trained ones.
    """
    if attack.get("rounds", "all") == ("finetuned" if trained else "trained"):
        return None
    overrides = [attack.get("per_task", {}).get(task, {})]
    tasks = attack.get("tasks")
    if trained:
        overrides.append(attack.get("trained", {}))
        tasks = attack.get("trained", {}).get("tasks", tasks)
    if tasks is not None and task not in tasks:
        return None
    settings = {k: v for k, v in attack.items() if k not in EVALUATION_ONLY_KEYS}
    for override in overrides:
        for key, value in override.items():
            if key == "options":
                settings[key] = {**settings.get(key, {}), **value}
            elif key != "tasks":
                settings[key] = value
    return settings


_JUDGE_KEYS = {
    "target": {"type", "match"},
    "refusal": {"type", "phrases"},
    "llm": {"type", "model", "template", "yes", "no", "batch_size"},
}
_GENERATION_KEYS = (
    "judge",
    "max_new_tokens",
    "generation_batch_size",
    "attacked_labels",
    "judge_at",
)


def _generation_problems(task_settings: Mapping[str, Any]) -> list[str]:
    """Generation settings only on generation tasks, and judges with their own keys only."""
    problems = []
    for task, settings in task_settings.items():
        if task not in TASKS:
            continue
        where = f"task_settings.{task}"
        if not TASKS[task].is_generation:
            given = [k for k in _GENERATION_KEYS if k in settings]
            if given or settings.get("finetune") is False:
                problems.append(
                    f"`{where}`: {sorted(given) or ['finetune: false']} only apply to generation "
                    f"tasks ({', '.join(t for t in TASKS if TASKS[t].is_generation)})"
                )
            continue
        judge = settings.get("judge")
        if judge:
            kind = judge["type"]
            extra = sorted(set(judge) - _JUDGE_KEYS[kind])
            if extra:
                problems.append(
                    f"`{where}.judge`: {extra} do not apply to a {kind} judge; allowed: "
                    f"{', '.join(sorted(_JUDGE_KEYS[kind]))}"
                )
            if kind == "llm" and "model" not in judge:
                problems.append(f"`{where}.judge`: an llm judge needs `model` (hub name or path)")
    return problems


SIZED_STAGES = ("pretrain", "finetune", "adversarial_round", "attack")
"""Stages whose jobs have a model size, so their resources may differ per size."""


def _resource_problems(resources: Mapping[str, Any], sizes: list[str]) -> list[str]:
    """Per-size resources only for stages whose jobs have a size, and only for the study's
    sizes: a size that is not in the study would be silently ignored."""
    problems = []
    for stage, settings in resources.items():
        by_size = settings.get("by_size")
        if by_size is None:
            continue
        if stage not in SIZED_STAGES:
            problems.append(
                f"`resources.{stage}.by_size`: {stage} jobs have no model size; per-size "
                f"resources apply to {', '.join(SIZED_STAGES)}"
            )
            continue
        problems += _names(by_size, sizes, f"resources.{stage}.by_size")
    return problems


def _semantic_problems(config: Mapping[str, Any]) -> list[str]:
    family = config["family"]
    families = [*HUB_FAMILIES, TINY]
    if family not in families:
        return [f"`family`: unknown family {family!r}; allowed: {', '.join(families)}"]
    problems = []
    if family == TINY:
        if not config.get("tiny", {}).get("sizes"):
            return ["`tiny.sizes`: the tiny family needs its sizes defined under `tiny.sizes`"]
        sizes = list(config["tiny"]["sizes"])
        problems += _names(config["tiny"]["corpus_tasks"], list(TASKS), "tiny.corpus_tasks")
    else:
        sizes = list(HUB_FAMILIES[family].sizes)
    problems += _names(config["sizes"], sizes, "sizes")
    problems += _names(config["tasks"], list(TASKS), "tasks")
    problems += _names(config["task_settings"], list(TASKS), "task_settings")
    problems += _names(config["size_tasks"], config["sizes"], "size_tasks")
    for size, tasks in config["size_tasks"].items():
        problems += _names(tasks, list(TASKS), f"size_tasks.{size}")
    vocab_size = _vocab_size(config)
    problems += _attack_problems(config["attacks"], vocab_size)
    tasks = study_tasks(config)
    for name, attack in config["attacks"].items():
        problems += _evaluation_problems(
            name, attack, tasks, bool(config.get("adversarial_training"))
        )
    problems += _generation_problems(config["task_settings"])
    problems += [
        f"`task_settings.{task}.shuffle`: synthetic tasks are always shuffled with their "
        "`seed` as they are generated; `shuffle` applies to loaded (hub or local) tasks"
        for task, settings in config["task_settings"].items()
        if task in SYNTHETIC_TASKS and "shuffle" in settings
    ]
    if family == TINY:
        problems += [
            f"`task_settings.{task}.model_source`: the tiny family's victims are its own "
            "pretrained models; `model_source` applies to hub families"
            for task, settings in config["task_settings"].items()
            if "model_source" in settings
        ]
    adversarial = config.get("adversarial_training")
    if adversarial:
        problems += _attack_problems(
            {
                adversarial["attack_name"]: {
                    "method": adversarial["attack_method"],
                    "options": adversarial["attack_options"],
                }
            },
            vocab_size,
            key="adversarial_training",
        )
        rounds = adversarial["rounds"]
        if isinstance(rounds, list) and len(rounds) != len(config["sizes"]):
            problems.append(
                f"`adversarial_training.rounds`: a list needs one entry per size "
                f"({len(config['sizes'])}: {config['sizes']}), got {len(rounds)}"
            )
        if isinstance(rounds, dict) and "rounds_times_params" not in rounds:
            problems += _names(rounds, config["sizes"], "adversarial_training.rounds")
    problems += _resource_problems(config["resources"], config["sizes"])
    finetune = config["finetune"]
    if finetune["batch_size"] % finetune["minibatch_size"]:
        problems.append(
            f"`finetune.batch_size`: {finetune['batch_size']} must be a multiple of "
            f"`finetune.minibatch_size` ({finetune['minibatch_size']})"
        )
    return problems


def _value_problems(config: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """Checks of values against each other, on a config whose names are known and whose
    defaults are filled in; ``given`` is the config as written."""
    return (
        _tiny_size_problems(config)
        + _synthetic_task_problems(config, given)
        + _local_file_problems(config)
        + _eval_round_problems(config)
        + _figure_iteration_problems(config, given)
    )


def _evaluations(attack: Mapping[str, Any], tasks: list[str]) -> list[dict[str, Any]]:
    """An attack entry's settings on each of ``tasks``, on finetuned and on trained rounds,
    wherever it attacks them."""
    return [
        evaluation
        for task in tasks
        for trained in (False, True)
        if (evaluation := attack_evaluation(attack, task, trained)) is not None
    ]


def _vocab_size(config: Mapping[str, Any]) -> int | None:
    """The study's smallest vocabulary, known while planning (none for an unknown family)."""
    if config["family"] == TINY:
        return config["tiny"]["vocab_size"]
    known = HUB_FAMILIES[config["family"]].sizes
    vocabularies = [known[size].vocab_size for size in config["sizes"] if size in known]
    return min(vocabularies, default=None)


def _tiny_size_problems(config: Mapping[str, Any]) -> list[str]:
    if config["family"] != TINY:
        return []
    return [
        f"`tiny.sizes.{name}`: num_heads {size['num_heads']} does not divide hidden_size "
        f"{size['hidden_size']}; each head is hidden_size / num_heads wide"
        for name, size in config["tiny"]["sizes"].items()
        if size["hidden_size"] % size["num_heads"]
    ]


LOADED_TASK_KEYS = ("source", "revision", "files", "columns", "splits")
"""Task settings that say where a loaded (hub or local) task's rows come from."""


def _synthetic_task_problems(config: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """Synthetic tasks are generated: settings of where rows come from would be ignored, and
    asking for more rows than a split is generated with would quietly get fewer."""
    problems = []
    given_settings = given.get("task_settings") or {}
    for task in study_tasks(config):
        if task not in SYNTHETIC_TASKS:
            continue
        settings = config["task_settings"][task]
        where = f"task_settings.{task}"
        ignored = [key for key in LOADED_TASK_KEYS if key in given_settings.get(task, {})]
        if ignored:
            problems.append(
                f"`{where}`: {ignored} apply to loaded (hub or local) tasks; {task} is "
                f"synthetic, generated with `train_size` / `val_size` and `seed`"
            )
        wanted = [("finetune.n_train", config["finetune"]["n_train"], "train_size")]
        wanted.append(("finetune.n_val", config["finetune"]["n_val"], "val_size"))
        wanted += [
            (f"attacks.{name}.n_val ({task})", evaluation["n_val"], "val_size")
            for name, attack in config["attacks"].items()
            for evaluation in _evaluations(attack, [task])
        ]
        for key, n, split in dict.fromkeys(wanted):
            if n > settings[split]:
                problems.append(
                    f"`{key}`: {n} rows asked for, but `{where}.{split}` generates "
                    f"{settings[split]}; allowed: at most {settings[split]}"
                )
    return problems


def _local_file_problems(config: Mapping[str, Any]) -> list[str]:
    """A loaded task's `files` name every split the study reads: the train split unless the
    task's victims are evaluated as they come (`finetune: false`)."""
    problems = []
    for task in study_tasks(config):
        settings = config["task_settings"][task]
        files = settings.get("files")
        if task in SYNTHETIC_TASKS or not files or settings.get("finetune") is False:
            continue
        train = settings.get("splits", {}).get("train", "train")
        if train not in files:
            problems.append(
                f"`task_settings.{task}.files`: no `{train}` file, and {task} is finetuned; "
                f"name its training split there (it has {sorted(files)})"
            )
    return problems


def _eval_round_problems(config: Mapping[str, Any]) -> list[str]:
    """Listed evaluation rounds beyond every size's last round would be dropped for all."""
    adversarial = config.get("adversarial_training")
    if not adversarial or not isinstance(adversarial["eval_rounds"], list):
        return []
    from robustness_scaling.grid import rounds_of

    last = max(rounds_of(config, size, task) for size, task, _ in cells(config))
    beyond = [r for r in adversarial["eval_rounds"] if r > last]
    if not beyond:
        return []
    return [
        f"`adversarial_training.eval_rounds`: {beyond} beyond the study's last round ({last}); "
        f"allowed: 0 to {last}"
    ]


def _figure_iteration_problems(config: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """A figure iteration the user names for a study attack must be one some budget reaches."""
    problems = []
    figures = given.get("figures") or {}
    tasks = study_tasks(config)
    for option in ("size_iterations", "defense_iterations"):
        for name, iteration in (figures.get(option) or {}).items():
            task, _, attack = name.rpartition("/")
            if attack not in config["attacks"]:
                continue
            reached = [
                max(evaluation["budgets"])
                for evaluation in _evaluations(config["attacks"][attack], [task] if task else tasks)
            ]
            if reached and iteration > max(reached):
                problems.append(
                    f"`figures.{option}.{name}`: iteration {iteration} is beyond every budget "
                    f"of {attack} (largest {max(reached)}); allowed: 0 to {max(reached)}"
                )
    return problems


def validate_config(config: Mapping[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """A validated copy of ``config`` with defaults filled in; raises :class:`ConfigError`."""
    from jsonschema import Draft202012Validator

    schema = yaml.safe_load(Path(schema_path).read_text())
    filled = copy.deepcopy(dict(config))
    validator = _with_defaults(Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_message(error, schema) for error in errors]
    if not problems:
        problems = _semantic_problems(filled)
    if not problems:  # give every task the study uses its settings, defaults filled in
        for task in study_tasks(filled):
            filled["task_settings"].setdefault(task, {})
        for name, attack in filled["attacks"].items():
            attack.setdefault("method", name)
        validator.validate(filled)
        problems = _value_problems(filled, config)
    if problems:
        raise ConfigError("invalid study config:\n  - " + "\n  - ".join(problems))
    return filled


def study_tasks(config: Mapping[str, Any]) -> list[str]:
    """Every task the study touches: its tasks, per-size tasks and the tiny corpus tasks."""
    names = list(config["tasks"])
    names += [task for tasks in config["size_tasks"].values() for task in tasks]
    if config["family"] == TINY:
        names += config["tiny"]["corpus_tasks"]
    return list(dict.fromkeys(names))


def cells(config: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """Every (size, task, seed) the study finetunes (or, with ``finetune: false``, evaluates
    as it comes: once, with the first seed, since the seed only picks the finetuning)."""
    return [
        (size, task, seed)
        for size in config["sizes"]
        for task in config["size_tasks"].get(size, config["tasks"])
        for seed in _seeds_of(config, task)
    ]


def _seeds_of(config: Mapping[str, Any], task: str) -> list[int]:
    if config["task_settings"].get(task, {}).get("finetune") is False:
        return list(config["seeds"][:1])
    return list(config["seeds"])
