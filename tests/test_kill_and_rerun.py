"""A study killed with SIGKILL (its whole process group) at random moments and rerun as a user
would, following what Snakemake prints, ends with every results file identical to an
uninterrupted run's."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import yaml
from test_workflow import SNAKEMAKE, copy_workflow, snakemake

# The smoke study cut to one size and one task, with a round of adversarial training: every
# resumable stage (pretraining, finetuning, a round, attack ladders) in a minute of jobs.
SMALL = {
    "sizes": ["tiny-a"],
    "tasks": ["password_match"],
    "attacks": {
        "gcg": {
            "budgets": [1, 2],
            "n_val": 8,
            "options": {"n_candidates": 16, "top_k": 32, "n_attack_tokens": 4},
        }
    },
}
# Up to the attacks table: the stages after it (metric tables, figures, front page) read only
# the table and keep no state across a kill.
TARGET = "results/tables/attacks.csv"
# Timings say how long jobs took, not what they computed.
NOT_RESULTS = ("results/benchmarks/",)


def _bookkeeping(name: str) -> bool:
    """A stored attack ladder's key digests its input files' modification times: the same in
    one folder across reruns, by design different in another folder."""
    return name.startswith("results/.ladder/") and name.endswith("/key")


def _study(folder: Path) -> Path:
    copy_workflow(folder)
    config = yaml.safe_load((folder / "config/smoke.yaml").read_text())
    config.update(SMALL)
    config["adversarial_training"].update(rounds={"tiny-a": 1}, eval_rounds=[0, 1])
    (folder / "config/small.yaml").write_text(yaml.safe_dump(config))
    return folder


def _results(folder: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted((folder / "results").rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_file() and not name.startswith(NOT_RESULTS) and not _bookkeeping(name):
            files[name] = path.read_bytes()
    return files


def _run_as_a_user(folder: Path, advice: list[str], kill_after: float | None = None) -> bool:
    """Run the study as a user would, doing what each failed run's message says (``advice``
    collects it, and keeps the flags taken); with ``kill_after``, SIGKILL the run's process
    group that many seconds after it starts. Whether it was killed."""
    log = folder / "snakemake.err"
    for _ in range(6):
        flags = [a for a in advice if a != "--unlock"]
        command = [SNAKEMAKE, "--cores", "2", TARGET, "--configfile", "config/small.yaml", *flags]
        with log.open("w") as err:
            run = subprocess.Popen(
                command, cwd=folder, start_new_session=True, stdout=err, stderr=err
            )
            try:
                run.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
                return True
        text = log.read_text()
        if run.returncode == 0:
            return False
        if "cannot be locked" in text and "--unlock" in text:
            snakemake(folder, "--unlock", "--configfile", "config/small.yaml")
            advice.append("--unlock")
        elif "--rerun-incomplete" in text and "--rerun-incomplete" not in advice:
            advice.append("--rerun-incomplete")
        else:
            raise AssertionError(f"a rerun failed without advice:\n{text}")
    raise AssertionError(f"still failing after {advice}")


def test_killed_at_random_moments_and_rerun_gives_the_same_bytes(tmp_path):
    """Three kills, at moments drawn (seeded) over an uninterrupted run's duration: each rerun
    is killed after the time from the last moment to the next (3 s at least, Snakemake's
    start-up), so the kills fall at about those points of the study's progress."""
    straight = _study(tmp_path / "straight")
    started = time.monotonic()
    snakemake(straight, TARGET, "--configfile", "config/small.yaml")
    duration = time.monotonic() - started
    expected = _results(straight)
    assert any(name.endswith(".parquet") for name in expected)

    killed = _study(tmp_path / "killed")
    advice: list[str] = []
    moments = sorted(random.Random(0).uniform(0.05, 0.9) * duration for _ in range(3))
    # Each rerun starts where the last kill left off: kill it after the time between moments.
    waits = [b - a for a, b in zip([0.0, *moments], moments, strict=False)]
    kills = [_run_as_a_user(killed, advice, max(wait, 3.0)) for wait in waits]
    assert kills[0], "the first run finished before it could be killed"
    _run_as_a_user(killed, advice)
    assert set(advice) <= {"--unlock", "--rerun-incomplete"}
    print("kills:", kills, "advice taken:", advice)
    got = _results(killed)
    assert sorted(got) == sorted(expected)
    differing = [name for name in expected if got[name] != expected[name]]
    assert differing == [], differing
