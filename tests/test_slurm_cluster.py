"""The throw-away SLURM cluster (tests/slurm_cluster.py) and Snakemake's SLURM executor on it.

Marked `slurm`: skipped with a reason where slurmctld/slurmd/munge are missing or we are not
root (install them with .ci/install-slurm.sh). The last test needs neither.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

try:
    from slurm_cluster import (
        SlurmUnavailable,
        _processes_with_env,
        slurm_cluster_fixture,
    )
    from slurm_cluster import slurm_cluster as start_slurm_cluster
except ImportError:  # tests/ imported as a package
    from tests.slurm_cluster import (
        SlurmUnavailable,
        _processes_with_env,
        slurm_cluster_fixture,
    )
    from tests.slurm_cluster import slurm_cluster as start_slurm_cluster

REPO = Path(__file__).resolve().parents[1]
SHIPPED_PROFILE = REPO / "profiles" / "slurm"
TEST_PROFILE = REPO / "tests" / "data" / "profiles" / "slurm-test"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

slurm_cluster_session = slurm_cluster_fixture(scope="session", name="slurm_cluster")

SNAKEFILE = """\
localrules: all

rule all:
    input: "b.txt"

rule a:
    output: "a.txt"
    shell: "echo a $SLURM_JOB_ID > {output}"

rule b:
    input: "a.txt"
    output: "b.txt"
    threads: 2
    resources: mem_mb=300, runtime=5
    shell: "cat {input} > {output}; echo b $SLURM_JOB_ID $SLURM_CPUS_PER_TASK >> {output}"
"""

# What a workflow's own profiles/default may hold without clobbering a cluster profile: it is
# applied after every --profile, key by key, so it must never set cores/jobs/executor/resources.
SAFE_DEFAULT_PROFILE = "printshellcmds: true\nshow-failed-logs: true\n"


def _workflow(tmp_path: Path, *, ship_profile: bool) -> Path:
    wf = tmp_path / "wf"
    (wf / "profiles" / "default").mkdir(parents=True)
    (wf / "Snakefile").write_text(SNAKEFILE)
    (wf / "profiles" / "default" / "config.yaml").write_text(SAFE_DEFAULT_PROFILE)
    if ship_profile:
        shutil.copytree(SHIPPED_PROFILE, wf / "profiles" / "slurm")
    return wf


def _run_snakemake(args: list[str], *, cwd: Path, env: dict[str, str], cluster=None, timeout=240):
    started = time.monotonic()
    res = subprocess.run(
        [*SNAKEMAKE, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    elapsed = time.monotonic() - started
    if res.returncode != 0:
        logs = cluster.logs() if cluster is not None else ""
        pytest.fail(
            f"snakemake {' '.join(args)} failed ({res.returncode}) after {elapsed:.0f}s:\n"
            f"{res.stdout[-3000:]}\n{res.stderr[-6000:]}\n{logs}"
        )
    return res, elapsed


@pytest.mark.slurm
def test_cluster_leaves_no_processes_behind():
    # A short root, as the shared cluster's: slurmd's socket paths under it must stay within
    # 108 characters, which pytest-xdist's per-worker tmp_path can exceed.
    root = Path(tempfile.mkdtemp(prefix="slurm-"))
    try:
        try:
            cm = start_slurm_cluster(root)
            cluster = cm.__enter__()
        except SlurmUnavailable as exc:
            pytest.skip(str(exc))
        try:
            job = cluster.sbatch("--wrap", "sleep 300", "-o", "/dev/null")
            assert cluster.wait_job(job, states={"RUNNING"}, timeout=30) == "RUNNING"
            assert len(_processes_with_env("SLURM_CONF", str(cluster.conf))) >= 4
        finally:
            cm.__exit__(None, None, None)
        assert _processes_with_env("SLURM_CONF", str(cluster.conf)) == []
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slurm
def test_sbatch_runs_to_completion_and_scancel_cancels(slurm_cluster, tmp_path):
    out = tmp_path / "hi.out"
    job = slurm_cluster.sbatch("--wrap", "echo hi", "-o", str(out))
    assert slurm_cluster.wait_job(job, timeout=30) == "COMPLETED"
    assert out.read_text().strip() == "hi"

    job = slurm_cluster.sbatch("--wrap", "sleep 300", "-o", "/dev/null")
    assert slurm_cluster.wait_job(job, states={"RUNNING"}, timeout=30) == "RUNNING"
    slurm_cluster.run("scancel", job)
    assert slurm_cluster.wait_job(job, timeout=30) == "CANCELLED"
    assert slurm_cluster.node_state() == "idle"


@pytest.mark.slurm
@pytest.mark.parametrize("which", ["shipped", "user"])
def test_snakemake_slurm_executor_runs_a_two_rule_workflow(slurm_cluster, tmp_path, which):
    """Both documented commands: the shipped `--profile profiles/slurm` (a path, relative to the
    workflow folder) and a user's own `--profile slurm` (found in ~/.config/snakemake/slurm;
    here $XDG_CONFIG_HOME/snakemake/slurm). The test overlay comes last on the command line.
    The workflow's profiles/default is picked up too and must not clobber the cluster profile.
    """
    env = dict(slurm_cluster.env)
    if which == "shipped":
        wf = _workflow(tmp_path, ship_profile=True)
        profile = "profiles/slurm"
    else:
        wf = _workflow(tmp_path, ship_profile=False)
        xdg = tmp_path / "xdg"
        shutil.copytree(SHIPPED_PROFILE, xdg / "snakemake" / "slurm")
        env["XDG_CONFIG_HOME"] = str(xdg)
        profile = "slurm"

    res, elapsed = _run_snakemake(
        ["--profile", profile, "--profile", str(TEST_PROFILE)],
        cwd=wf,
        env=env,
        cluster=slurm_cluster,
    )
    print(f"snakemake on SLURM ({which} profile): {elapsed:.1f}s")
    log = res.stderr
    assert "workflow specific profile profiles/default" in log
    assert f"Using profiles {profile} and {TEST_PROFILE}" in log

    # Both rules ran as SLURM jobs of this run, which squeue still lists (MinJobAge).
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    assert run_id.startswith("rscale_")  # slurm-jobname-prefix from the shipped profile
    jobs = slurm_cluster.run(
        "squeue", "-h", "--states=all", "--name", run_id, "-o", "%i %T %C"
    ).stdout.split("\n")
    jobs = [line.split() for line in jobs if line.strip()]
    assert len(jobs) == 2, jobs
    assert all(state == "COMPLETED" for _, state, _ in jobs), jobs

    a = (wf / "a.txt").read_text().split()
    b = (wf / "b.txt").read_text().split()
    assert a[0] == "a" and a[1].isdigit()
    assert b[:2] == a  # b copied a's output ...
    assert b[2] == "b" and b[3].isdigit() and b[3] != a[1]  # ... in another SLURM job
    assert b[4] == "2"  # threads: 2 became --cpus-per-task=2 (not capped by a profile)
    # The profile's slurm-logdir, relative to the working directory.
    assert sorted(p.parent.name for p in (wf / "logs" / "slurm").rglob("*.log")) == [
        "rule_a",
        "rule_b",
    ]


def test_shipped_slurm_profile_parses(tmp_path):
    """Every key of the shipped profile is an option this Snakemake and plugin accept (no
    cluster needed: a dry run plans with the dryrun executor)."""
    wf = _workflow(tmp_path, ship_profile=True)
    (wf / "Snakefile").write_text(
        SNAKEFILE
        + textwrap.dedent("""
            rule needs_gpu:
                output: "g.txt"
                resources: gpu=1, slurm_partition="gpu"
                shell: "touch {output}"
            """)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")  # no user profiles
    res, _ = _run_snakemake(["--profile", "profiles/slurm", "-n", "all", "g.txt"], cwd=wf, env=env)
    assert "Using profiles profiles/slurm and workflow specific profile" in res.stderr

    # A bare name never looks in ./profiles/: `--profile slurm` means the user's own profile.
    res = subprocess.run(
        [*SNAKEMAKE, "--profile", "slurm", "-n"], cwd=wf, env=env, capture_output=True, text=True
    )
    assert res.returncode != 0
    assert "profile directory given (slurm), but no profile.yaml" in res.stderr
