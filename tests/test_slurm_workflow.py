"""The study's workflow on a real (throw-away, single-node) SLURM cluster.

Runs the smoke study with the shipped profile plus the test overlay, exactly as documented,

    snakemake --profile profiles/slurm --profile tests/data/profiles/slurm-test

in a temporary copy of the workflow, next to a local ``snakemake --cores 2`` run of the same
study, and checks that both give byte-identical models. Then two faults: a finetuning job
cancelled with ``scancel`` mid-training is retried and resumes from its checkpoint to the same
weights as an uninterrupted run, and a job failing for bad input is given up after the
profile's ``retries`` with a log that names the culprit.

Marked `slurm`: skipped with the reason where the cluster cannot run (see tests/slurm_cluster.py).
The cluster is shared with tests/test_slurm_cluster.py (one per session).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

try:
    from slurm_cluster import SlurmCluster, slurm_cluster_fixture
except ImportError:  # tests/ imported as a package
    from tests.slurm_cluster import SlurmCluster, slurm_cluster_fixture

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "config.yaml", "config", "workflow", "profiles", "envs", "src"]
TEST_PROFILE = REPO / "tests" / "data" / "profiles" / "slurm-test"
SLURM_PROFILE_ARGS = ["--profile", "profiles/slurm", "--profile", str(TEST_PROFILE)]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
RUN_TIMEOUT = 600  # a guard against a hang, far above a run on a busy 2-core machine
TABLE = "results/tables/attacks.csv"

slurm_cluster = slurm_cluster_fixture(scope="session", name="slurm_cluster")


# --- helpers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """The workflow and library as they were when the module started, and the environment
    every run gets: the cluster's client environment (jobs inherit it), offline, no user
    profiles, and the library from the snapshot (PYTHONPATH), so that editing the repository
    while the module runs changes no code fingerprint between its runs."""

    root: Path
    env: dict[str, str]

    def copy_workflow(self, folder: Path) -> Path:
        shutil.copytree(self.root / "workflow-files", folder)
        return folder


@pytest.fixture(scope="module")
def snapshot(slurm_cluster, tmp_path_factory) -> Snapshot:
    root = tmp_path_factory.mktemp("slurm-snapshot")
    files = root / "workflow-files"
    files.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, files / name, ignore=ignore)
        else:
            shutil.copy(source, files / name)
    shutil.copytree(REPO / "src", root / "src", ignore=ignore)
    env = dict(slurm_cluster.env)
    env.update(
        PYTHONPATH=str(root / "src"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HOME=str(root / "hf-home"),
        XDG_CONFIG_HOME=str(root / "xdg"),
    )
    return Snapshot(root, env)


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def run_id(self) -> str:
        """The SLURM run ID: every SLURM job of this run has it as its job name."""
        match = re.search(r"SLURM run ID: (\S+)", self.stderr)
        assert match, self.stderr[-3000:]
        return match[1]


class Snakemake:
    """A Snakemake process in the background, its output in files (readable while it runs)."""

    def __init__(self, folder: Path, args: list[str], env: dict[str, str], name: str):
        self.folder, self.args = folder, args
        self.out = folder.parent / f"{name}.stdout"
        self.err = folder.parent / f"{name}.stderr"
        self.started = time.monotonic()
        self.ended: float | None = None
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [*SNAKEMAKE, *args], cwd=folder, env=env, stdout=out, stderr=err
            )
        self._reaper = threading.Thread(target=self._reap, daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        self.proc.wait()
        self.ended = time.monotonic()

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def wait(self, timeout: float = RUN_TIMEOUT) -> Finished:
        self._reaper.join(timeout=max(1.0, timeout - (time.monotonic() - self.started)))
        if self.ended is None:
            self.kill()  # the executor cancels its SLURM jobs on SIGTERM
            pytest.fail(f"snakemake {' '.join(self.args)} timed out:\n{self.stderr()[-6000:]}")
        return Finished(
            self.proc.returncode,
            self.out.read_text(errors="replace"),
            self.stderr(),
            self.ended - self.started,
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def succeeded(run: Finished, what: str, cluster: SlurmCluster | None = None) -> Finished:
    if run.returncode != 0:
        pytest.fail(
            f"{what} failed ({run.returncode}) after {run.seconds:.0f}s:\n"
            f"{run.stdout[-2000:]}\n{run.stderr[-6000:]}\n{cluster.logs() if cluster else ''}"
        )
    print(f"{what}: {run.seconds:.1f}s")
    return run


def slurm_jobs(cluster: SlurmCluster, run_id: str) -> list[tuple[str, str, str]]:
    """(job id, state, rule) of every SLURM job of a run, in submission order."""
    out = cluster.run("squeue", "-h", "--states=all", "--name", run_id, "-o", "%i|%T|%k").stdout
    jobs = []
    for line in out.splitlines():
        if line.strip():
            job_id, state, comment = line.strip().split("|", 2)
            rule = re.fullmatch(r"rule_(\w+?)(?:_wildcards_.*)?", comment)
            jobs.append((job_id, state, rule[1] if rule else comment))
    return sorted(jobs, key=lambda job: int(job[0]))


def rules_run_locally(run: Finished) -> set[str]:
    """Rules Snakemake ran on the submitting host (it prints `localrule X:` for those)."""
    return set(re.findall(r"^localrule (\w+):", run.stdout + run.stderr, re.M))


def rules_run_on_slurm(run: Finished) -> set[str]:
    return set(re.findall(r"^rule (\w+):", run.stdout + run.stderr, re.M))


def cell_files(folder: Path) -> dict[str, bytes]:
    """Every finetuned cell's metrics.json and model.safetensors, by path."""
    found = {}
    for name in ("metrics.json", "model.safetensors"):
        for path in (folder / "results/models").glob(f"tiny/*/*/seed0/round0/{name}"):
            found[str(path.relative_to(folder))] = path.read_bytes()
    return found


# The cluster study's one task: its two sizes still run side by side on the cluster.
CLUSTER_TASK = "password_match"


def cluster_smoke_config(folder: Path) -> str:
    """The smoke study cut to one task, one attack budget and no adversarial rounds: every
    stage kind (data, tokenizer, pretrain, finetune, attack, aggregate) in the fewest jobs and
    sequential SLURM stages, since each job costs a start-up and each stage the executor's
    polling delay. One job per attack, as the paper configs run on a cluster."""
    config = yaml.safe_load((folder / "config/smoke.yaml").read_text())
    config.pop("adversarial_training", None)
    config["tasks"] = [CLUSTER_TASK]
    config["task_settings"] = {CLUSTER_TASK: config["task_settings"][CLUSTER_TASK]}
    config["attacks"] = {"gcg": {**config["attacks"]["gcg"], "budgets": [1]}}
    config["attack_jobs"] = "per_attack"
    return write_config(folder, "slurm-smoke", config)


def write_config(folder: Path, name: str, config: dict) -> str:
    (folder / "config" / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return f"config/{name}.yaml"


def profile_retries() -> int:
    return yaml.safe_load((REPO / "profiles/slurm/config.v8+.yaml").read_text())["retries"]


# --- the runs: started together, in the background ----------------------------------------


def _bad_input_workflow(snapshot: Snapshot, tmp: Path) -> tuple[Path, list[str], str]:
    """A hub-family study whose `model_source` is a local directory that does not exist.

    Its one task reads small local jsonl files, so the data stage (a local rule) succeeds and
    the finetuning job on SLURM is the one that fails. Returns (folder, arguments, culprit).
    """
    folder = snapshot.copy_workflow(tmp / "wf")
    rows = [{"content": f"mail number {i}", "clf_label": i % 2} for i in range(8)]
    files = {}
    for split in ("train", "validation"):
        path = tmp / f"spam-{split}.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        files[split] = str(path)
    missing = tmp / "no-such-models"
    config = {
        "study": "bad-input",
        "family": "pythia",
        "sizes": ["14m"],
        "tasks": ["spam"],
        "seeds": [0],
        "model_source": f"{missing}/pythia-{{size}}",
        "runtime": {"device": "cpu", "dtype": "float32"},
        "task_settings": {"spam": {"files": files}},
        "finetune": {"n_train": 8, "n_val": 4, "epochs": 1, "batch_size": 4, "minibatch_size": 4},
        "resources": {"default": {"threads": 1, "mem_mb": 1000, "runtime": 10}},
    }
    target = "results/models/pythia/14m/spam/seed0/round0"
    args = [*SLURM_PROFILE_ARGS, target, "--configfile", write_config(folder, "bad-input", config)]
    return folder, args, f"{missing}/pythia-14m"


@dataclass
class Background:
    """The module's long runs, all started at once by :func:`background`."""

    smoke_cluster: Snakemake
    smoke_local: Snakemake
    bad_input: Snakemake
    bad_input_culprit: str


@pytest.fixture(scope="module")
def background(snapshot, tmp_path_factory):
    """Start the smoke study on the cluster and with `--cores 2`, and the bad-input study on
    the cluster, all at once.

    Each cluster run spends most of its time waiting for the executor's status polls (whose
    interval grows by 10 s after every poll that sees no job finish, and failed jobs do not
    count as finished), so running them side by side keeps the module's wall time near the
    longest one's rather than their sum.
    """
    smoke = tmp_path_factory.mktemp("slurm-smoke")
    bad = tmp_path_factory.mktemp("slurm-bad-input")
    # The smoke study's finetuned models: the stages this module covers (targets first:
    # --configfile takes every argument after it).
    folders = {name: snapshot.copy_workflow(smoke / name) for name in ("cluster", "local")}
    config = [TABLE, "--configfile", cluster_smoke_config(folders["cluster"])]
    cluster_smoke_config(folders["local"])
    bad_folder, bad_args, culprit = _bad_input_workflow(snapshot, bad)
    runs = Background(
        Snakemake(folders["cluster"], [*SLURM_PROFILE_ARGS, *config], snapshot.env, "cluster"),
        Snakemake(folders["local"], ["--cores", "2", *config], snapshot.env, "local"),
        Snakemake(bad_folder, bad_args, snapshot.env, "bad-input"),
        culprit,
    )
    try:
        yield runs
    finally:
        for run in (runs.smoke_cluster, runs.smoke_local, runs.bad_input):
            run.kill()


@dataclass
class SmokeRuns:
    local: Path
    cluster: Path
    local_run: Finished
    cluster_run: Finished


@pytest.fixture(scope="module")
def smoke_runs(background, slurm_cluster) -> SmokeRuns:
    """The smoke study, finished on the cluster and locally."""
    cluster_run = succeeded(background.smoke_cluster.wait(), "smoke study on SLURM", slurm_cluster)
    local_run = succeeded(background.smoke_local.wait(), "smoke study with --cores 2")
    return SmokeRuns(
        background.smoke_local.folder, background.smoke_cluster.folder, local_run, cluster_run
    )


def test_smoke_study_on_slurm_equals_local_run(smoke_runs):
    local, cluster = cell_files(smoke_runs.local), cell_files(smoke_runs.cluster)
    sizes = yaml.safe_load((REPO / "config/smoke.yaml").read_text())["sizes"]
    assert len(local) == 2 * len(sizes)  # metrics and weights of every cell
    assert sorted(cluster) == sorted(local)
    different = [path for path in local if cluster[path] != local[path]]
    assert not different, f"SLURM and local runs differ in {different}"
    assert not any((smoke_runs.cluster / "results/.resume").rglob("*.pt"))
    tables = [folder / TABLE for folder in (smoke_runs.local, smoke_runs.cluster)]
    assert tables[0].read_bytes() == tables[1].read_bytes()


def test_heavy_stages_ran_as_slurm_jobs_and_data_locally(smoke_runs, slurm_cluster):
    run, folder = smoke_runs.cluster_run, smoke_runs.cluster
    local, remote = rules_run_locally(run), rules_run_on_slurm(run)
    assert local == {"task_data", "tokenizer", "aggregate"}  # the local rules
    assert remote == {"pretrain", "finetune", "attack_gcg_finetuned"}  # one job per ladder

    # Every rule not run locally was a SLURM job of this run, and every such job completed.
    jobs = slurm_jobs(slurm_cluster, run.run_id)
    assert all(state == "COMPLETED" for _, state, _ in jobs), jobs
    per_rule = {rule: sum(r == rule for _, _, r in jobs) for rule in remote}
    assert per_rule == {"pretrain": 2, "finetune": 2, "attack_gcg_finetuned": 2}
    # ... each with its log under the profile's slurm-logdir (kept by the test overlay).
    logs = sorted((folder / "logs/slurm").rglob("*.log"))
    assert sorted(p.parent.relative_to(folder / "logs/slurm").parts[0] for p in logs) == sorted(
        f"rule_{rule}" for _, _, rule in jobs
    )
    assert sorted(p.stem for p in logs) == sorted(job_id for job_id, _, _ in jobs)
    # The jobs ran with the rules' declared resources: 1 thread, mem_mb from the config.
    for job_id, _, _ in jobs:
        shown = slurm_cluster.run("scontrol", "show", "job", job_id).stdout
        assert re.search(r"\bNumCPUs=1\b", shown), shown
        assert re.search(r"\bmem=1000M\b", shown), shown


# --- faults --------------------------------------------------------------------------------

RESUME_CELL = "tiny/tiny-a/password_match/seed0"


def _resume_config(folder: Path) -> str:
    """The cluster's smoke study (so that only finetuning's settings differ from the finished
    run's) with a longer finetuning (300 steps, a checkpoint after every one)."""
    config = yaml.safe_load((folder / "config/slurm-smoke.yaml").read_text())
    config["finetune"].update(n_train=400, epochs=12, checkpoint_seconds=0)
    return write_config(folder, "resume", config)


def _wait_for(what: str, condition, run: Snakemake, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if run.proc.poll() is not None:
            pytest.fail(f"snakemake exited before {what}:\n{run.stderr()[-6000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{run.stderr()[-6000:]}")
        time.sleep(0.05)


def test_cancelled_finetune_job_is_retried_and_resumes_from_its_checkpoint(
    smoke_runs, snapshot, slurm_cluster, tmp_path
):
    # Start from the finished smoke runs (data, tokenizer, pretrained models in place): the
    # longer finetuning reruns just the one cell we ask for.
    cluster = tmp_path / "cluster"
    local = tmp_path / "local"
    shutil.copytree(smoke_runs.cluster, cluster, symlinks=True)
    shutil.copytree(smoke_runs.local, local, symlinks=True)
    shutil.rmtree(cluster / "logs/slurm")
    # (the target first: --configfile takes every argument after it)
    target = [f"results/models/{RESUME_CELL}/round0", "--configfile", _resume_config(cluster)]
    _resume_config(local)
    env = snapshot.env
    checkpoint = cluster / f"results/.resume/finetune/{RESUME_CELL}/train.pt"
    log = cluster / f"logs/finetune/{RESUME_CELL}.log"

    runs = [
        Snakemake(cluster, [*SLURM_PROFILE_ARGS, *target], env, "cluster"),
        Snakemake(local, ["--cores", "2", *target], env, "local"),  # the uninterrupted run
    ]
    try:
        sm = runs[0]
        _wait_for("the SLURM run ID", lambda: "SLURM run ID" in sm.stderr(), sm)
        run_id = re.search(r"SLURM run ID: (\S+)", sm.stderr())[1]
        _wait_for("the first checkpoint", checkpoint.exists, sm)
        jobs = slurm_jobs(slurm_cluster, run_id)
        assert [(state, rule) for _, state, rule in jobs] == [("RUNNING", "finetune")], (
            jobs,
            sm.stderr()[-3000:],
        )
        job_id = jobs[0][0]
        slurm_cluster.run("scancel", job_id)
        cancelled_at = time.monotonic()
        assert slurm_cluster.wait_job(job_id, timeout=30) == "CANCELLED"
        assert checkpoint.exists()  # outside the job's outputs: Snakemake leaves it alone

        resumed = succeeded(sm.wait(), "cancelled, retried and resumed on SLURM", slurm_cluster)
        print(f"  retry finished {time.monotonic() - cancelled_at:.1f}s after scancel")
        uninterrupted = succeeded(runs[1].wait(), "uninterrupted run with --cores 2")
    finally:
        for run in runs:
            run.kill()

    # Snakemake planned the one cell, saw the first job fail and resubmitted it.
    for run in (resumed, uninterrupted):
        assert re.search(r"^finetune\s+1$", run.stdout + run.stderr, re.M), run.stderr[-3000:]
    jobs = slurm_jobs(slurm_cluster, resumed.run_id)
    assert [(state, rule) for _, state, rule in jobs] == [
        ("CANCELLED", "finetune"),
        ("COMPLETED", "finetune"),
    ]
    assert "Trying to restart job" in resumed.stderr
    # The second job resumed where the first stopped, not from scratch (Snakemake empties a
    # job's log when it starts it, so this is the retry's log).
    text = log.read_text()
    match = re.search(r"resumed from (\S+) at step (\d+)/(\d+)", text)
    assert match, text
    assert Path(match[1]) == checkpoint.relative_to(cluster)
    assert 0 < int(match[2]) < int(match[3]) == 300
    assert not checkpoint.exists()  # removed once the job succeeded
    # ... and ended with the same weights, metrics and loss curve as the uninterrupted run.
    for name in ("model.safetensors", "metrics.json"):
        path = f"results/models/{RESUME_CELL}/round0/{name}"
        assert (cluster / path).read_bytes() == (local / path).read_bytes(), name
    assert json.loads((cluster / path).read_text())["steps"] == 300


def test_job_failing_for_bad_input_is_given_up_after_the_retries_with_a_log(
    background, slurm_cluster
):
    """The bad-input study (see :func:`_bad_input_workflow`), started with the smoke runs."""
    run = background.bad_input.wait()
    folder, culprit = background.bad_input.folder, background.bad_input_culprit
    print(f"bad input on SLURM: {run.seconds:.1f}s")

    assert run.returncode != 0
    jobs = slurm_jobs(slurm_cluster, run.run_id)
    # Tried once, retried `retries` times (the shipped profile's), then given up.
    assert [(state, rule) for _, state, rule in jobs] == [("FAILED", "finetune")] * (
        1 + profile_retries()
    ), jobs
    assert "Exiting because a job execution failed" in run.stderr
    assert not (folder / "results/models/pythia/14m/spam/seed0/round0").exists()

    # The job's log says why, naming the path that is not there (Snakemake empties a job's
    # log when it starts it again, so it holds the last attempt's error) ...
    why = re.compile(rf"model directory '{re.escape(culprit)}' does not exist")
    log = (folder / "logs/finetune/pythia/14m/spam/seed0.log").read_text(errors="replace")
    assert why.search(log), log[-3000:]
    # ... and Snakemake showed each attempt's logs (show-failed-logs), each naming it.
    assert len(why.findall(run.stderr)) >= len(jobs), run.stderr[-6000:]
    slurm_logs = sorted((folder / "logs/slurm/rule_finetune").rglob("*.log"))
    assert sorted(p.stem for p in slurm_logs) == sorted(job_id for job_id, _, _ in jobs)
    for path in slurm_logs:
        assert str(path) in run.stderr or str(path.relative_to(folder)) in run.stderr
