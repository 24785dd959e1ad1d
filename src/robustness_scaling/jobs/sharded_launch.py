"""Run a training job in one process per GPU under ``torchrun``, when its stage's resources ask
for more than one GPU (``resources.finetune.by_size.<size>.gpu: 4``).

The rule's process writes the job (its class, its plain values, the runtime settings) to a JSON
file next to the log and starts ``python -m torch.distributed.run --standalone`` on this module
with the same interpreter and the same copy of the library; each rank rebuilds the job, joins
the process group and runs it, rank 0 writing the files and the log lines. A failed rank fails
the job, with every rank's traceback in the job's log.
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import robustness_scaling
from robustness_scaling.jobs.entry import J, build
from robustness_scaling.runtime import Runtime

# Loaded before any fork: between fork and exec the child may only call what is loaded.
_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (Linux; elsewhere a no-op).

    torchrun starts each rank in a session of its own, so killing a job's process group (a
    user's Ctrl-C on Snakemake, a kill -9) would leave the ranks running, still writing the
    job's checkpoints while its rerun writes them too. Set in torchrun (by the rule's process)
    and in every rank (by torchrun), a killed job takes all its processes with it.
    """
    if _LIBC is None:
        return
    parent = os.getppid()
    _LIBC.prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request was in
        os.kill(os.getpid(), signal.SIGKILL)


def _plain(value: Any) -> Any:
    """A rule's params and files as JSON: Snakemake's path lists become lists of text."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def torchrun(processes: int, *program: str) -> list[str]:
    """The command that runs ``program`` (a script and its arguments, or ``-m`` and a module) in
    ``processes`` ranks on this machine, with this interpreter."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        *program,
    ]


def launch(
    cls: type[J],
    values: Mapping[str, Any],
    runtime: Mapping[str, Any],
    log: str | Path,
    processes: int,
) -> None:
    """Run the job ``cls(**values)`` in ``processes`` ranks; return when all have finished."""
    log = Path(log)
    spec_path = log.with_name(log.name + ".job.json")
    spec = {
        "job": f"{cls.__module__}:{cls.__qualname__}",
        "values": _plain(values),
        "runtime": _plain(runtime),
        "log": str(log),
    }
    spec_path.write_text(json.dumps(spec, indent=1))
    library = str(Path(robustness_scaling.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([library, os.environ.get("PYTHONPATH", "")])}
    command = torchrun(processes, "-m", __name__, str(spec_path))
    with log.open("a") as handle:
        handle.write(f"sharded job: {' '.join(command)}\n")
        handle.flush()
        done = subprocess.run(
            command,
            stdout=handle,
            stderr=handle,
            env=env,
            check=False,
            preexec_fn=die_with_parent,
        )
    spec_path.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"the sharded job over {processes} processes failed (exit status "
            f"{done.returncode}); each rank's traceback is in {log}"
        )


def main(spec_path: str) -> None:
    """One rank: rebuild the job, join the process group, run."""
    die_with_parent()
    import torch.distributed as dist

    from robustness_scaling.training.sharded import current_world, join_process_group

    spec = json.loads(Path(spec_path).read_text())
    module, name = spec["job"].split(":")
    cls = getattr(importlib.import_module(module), name)
    world_size = int(os.environ["WORLD_SIZE"])
    settings = dict(spec["runtime"])
    settings["threads"] = max(1, settings.get("threads", 1) // world_size)
    runtime = Runtime.resolve(**settings)
    runtime = dataclasses.replace(runtime, device=join_process_group(runtime.device))
    if not current_world().leader:
        logging.disable(logging.INFO)  # rank 0 tells the progress; the others only their errors
    try:
        build(cls, spec["values"]).run(runtime, spec["log"])
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
