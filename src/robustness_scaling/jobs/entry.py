"""What every workflow script does: build the rule's job from its params and files, resolve
the runtime, send tracebacks to the job's log, run.

Kept out of the job modules so that each script is a few keyword lines naming its files.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from robustness_scaling.atomic import remove_empty_parents
from robustness_scaling.binding import KeyedFolder, binding_key
from robustness_scaling.errors import InputError
from robustness_scaling.runtime import Runtime, get_logger


class Job(Protocol):
    def run(self, runtime: Runtime, log: str) -> None: ...


J = TypeVar("J", bound=Job)


def _convert(hint: Any, value: Any) -> Any:
    """A plain (YAML, JSON) value as a field of type ``hint``: paths from text, settings
    dataclasses through their ``from_config``, lists element by element."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):  # X | None
        hint = next(arg for arg in args if arg is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Path:
        return Path(value)
    if origin in (list, tuple) and args:
        return [_convert(args[0], item) for item in value]
    if isinstance(hint, type) and hasattr(hint, "from_config") and isinstance(value, Mapping):
        return hint.from_config(value)
    return value


def build(cls: type[J], values: Mapping[str, Any]) -> J:
    """A job of class ``cls`` from plain values, as a rule's params and files give them."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}")
    return cls(**{name: _convert(hints[name], value) for name, value in values.items()})


def run_rule(snakemake: Any, cls: type[J], **files: Any) -> None:
    """Run a rule's job: ``params.job`` and ``files`` build it; ``params.precision`` (what
    results depend on) and ``params.runtime`` (how the job runs) resolve its runtime.

    A training job (``SHARDS`` set on its class) whose resources ask for more than one GPU
    runs sharded, one process per GPU (:mod:`robustness_scaling.jobs.sharded_launch`).

    A job whose class names its resume folder field (``RESUME``) resumes only from state made
    under the same settings: Snakemake reruns a job when its params, code or inputs change, but
    the folder outlives the rerun, so it is bound to a key of all three (and of the precision
    and device) and emptied, with a log line, when the key differs. It is removed once the job
    has succeeded.

    A job stopped by its input (:class:`~robustness_scaling.errors.InputError`: a bad data
    file, model directory or table) writes the error's message to its log, without a
    traceback, and exits with status 1."""
    log = snakemake.log[0]
    # Tracebacks land in the job's log, next to its progress lines; the process owns the handle.
    sys.stderr = open(log, "a", buffering=1)  # noqa: SIM115
    params = snakemake.params
    settings = {
        **getattr(params, "precision", {"autocast": "float32"}),
        **getattr(params, "runtime", {"device": "cpu"}),
        "threads": snakemake.threads,
    }
    values = {**params.job, **files}
    try:
        resume = _bound_resume_folders(snakemake, cls, values, log)
        processes = int(snakemake.resources.get("gpu", 0) or 0)
        if processes > 1 and getattr(cls, "SHARDS", False):
            from robustness_scaling.jobs.sharded_launch import launch

            launch(cls, values, settings, log, processes)
        else:
            build(cls, values).run(Runtime.resolve(**settings), log)
    except InputError as error:  # the message names the culprit; a traceback would not help
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    for folder in resume:
        shutil.rmtree(folder, ignore_errors=True)
        remove_empty_parents(folder)


def _bound_resume_folders(
    snakemake: Any, cls: type, values: Mapping[str, Any], log: str
) -> list[Path]:
    """The job's resume folders, each emptied unless it was made under this job's key."""
    field = getattr(cls, "RESUME", None)
    if field is None:
        return []
    named = values[field]
    folders = [Path(named)] if isinstance(named, str | Path) else [Path(f) for f in named]
    params = snakemake.params
    key = binding_key(
        {
            "job": cls.__name__,
            "params": params.job,
            "precision": getattr(params, "precision", None),
            "device": getattr(params, "runtime", {}).get("device"),
            "code": getattr(params, "code", None),
        },
        list(getattr(snakemake, "input", [])),
    )
    logger = get_logger("resume", log)
    for folder in folders:
        KeyedFolder(folder, key, logger, "the resume checkpoint")
    return folders
