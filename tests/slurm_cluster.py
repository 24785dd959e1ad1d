"""A throw-away single-node SLURM cluster for tests.

Everything lives under one temporary folder and talks over loopback: a generated munge key and
its own ``munged`` (own socket, pid, log and seed files), a generated ``slurm.conf`` (no cgroups,
no accounting database), ``slurmctld`` and ``slurmd`` running in the foreground (``-D``) as
children of the test process. Nothing system-wide is read or changed: clients find the cluster
through ``SLURM_CONF``, which :attr:`SlurmCluster.env` carries.

Use it as a context manager::

    with slurm_cluster(tmp_dir) as cluster:
        subprocess.run(["sbatch", "--wrap", "true"], env=cluster.env, check=True)

or as a pytest fixture (put this in ``conftest.py`` to share one cluster across modules)::

    from slurm_cluster import slurm_cluster_fixture

    slurm_cluster = slurm_cluster_fixture(scope="session")

    @pytest.mark.slurm
    def test_x(slurm_cluster): ...

When the SLURM or munge binaries are missing, or the process is not root (slurmd must be), the
fixture calls ``pytest.skip`` with the reason; the context manager raises
:class:`SlurmUnavailable` (whose message is that reason).

Install the binaries with ``.ci/install-slurm.sh`` (Debian ``slurm-wlm`` and ``munge``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scancel", "scontrol", "srun")
PARTITION = "debug"
# The node advertises this many times the host's CPUs (slurmd trusts slurm.conf over the
# hardware: SlurmdParameters=config_overrides). Test jobs are short and spend most of their
# time importing Python packages, and a job left pending behind others costs far more than
# the CPU time it would share: Snakemake's SLURM executor lengthens its status-poll interval
# by 10 s after every poll that sees no job finish.
CPU_OVERSUBSCRIPTION = 2
# slurmctld keeps finished jobs visible to `squeue` for MinJobAge seconds. Snakemake's SLURM
# plugin polls `squeue` when there is no accounting database, so this must comfortably exceed
# its status-check interval (the plugin even falls back to `sacct`, which does not work here,
# when MinJobAge < 3 * --slurm-init-seconds-before-status-checks).
MIN_JOB_AGE = 300
FINISHED_STATES = frozenset(
    {
        "COMPLETED",
        "CANCELLED",
        "FAILED",
        "TIMEOUT",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "OUT_OF_MEMORY",
    }
)


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be started on this machine; the message says why."""


class SlurmStartError(RuntimeError):
    """The daemons were found but the cluster did not come up; the message has their logs."""


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in SBIN_DIRS:
        candidate = Path(d) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def unavailable_reason() -> str | None:
    """Why a local SLURM cluster cannot be started here, or None if it can."""
    missing = [name for name in (*DAEMONS, *CLIENTS) if _which(name) is None]
    if missing:
        return (
            f"SLURM/munge binaries not found: {', '.join(missing)} "
            "(install Debian's slurm-wlm and munge, e.g. with .ci/install-slurm.sh)"
        )
    if os.geteuid() != 0:
        return "a local SLURM cluster needs root (slurmd must run as root)"
    return None


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _real_memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                total_mb = int(line.split()[1]) // 1024
                # slurmd drains a node whose configured RealMemory exceeds what it measures;
                # stay a little below it.
                return max(256, int(total_mb * 0.9))
    return 1024


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def _node_name() -> str:
    """`hostname -s` when it resolves (srun and slurmd use it), else localhost."""
    name = socket.gethostname().split(".")[0]
    try:
        socket.gethostbyname(name)
    except OSError:
        return "localhost"
    return name or "localhost"


def _slurm_conf(root: Path, *, cluster: str, node: str, cpus: int, mem_mb: int) -> str:
    ctld_port, slurmd_port = _free_ports(2)
    return f"""\
# Generated by tests/slurm_cluster.py: a single-node cluster on loopback.
ClusterName={cluster}
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root / "munge" / "munge.socket"}
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SlurmdParameters=config_overrides
DefMemPerCPU=256
SchedulerType=sched/backfill
# Start batch jobs as soon as they are submitted (the default batches them for up to 3 s).
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MinJobAge={MIN_JOB_AGE}
KillWait=2
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool" / "slurmd-%n"}
SlurmctldPidFile={root / "run" / "slurmctld.pid"}
SlurmdPidFile={root / "run" / "slurmd-%n.pid"}
SlurmctldLogFile={root / "log" / "slurmctld.log"}
SlurmdLogFile={root / "log" / "slurmd-%n.log"}
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
PlugStackConfig={root / "plugstack.conf"}
NodeName={node} NodeAddr=127.0.0.1 NodeHostname={node} CPUs={cpus} RealMemory={mem_mb} \
State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class SlurmCluster:
    """A running single-node cluster. Pass :attr:`env` to every subprocess that uses SLURM."""

    root: Path
    conf: Path
    node: str
    partition: str
    cpus: int
    mem_mb: int
    env: dict[str, str]
    startup_seconds: float = 0.0
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    def run(
        self, *args: str, check: bool = True, timeout: float = 60, **kwargs
    ) -> subprocess.CompletedProcess:
        """Run a SLURM client command (``cluster.run("squeue", "-h")``) against this cluster."""
        return subprocess.run(
            list(args),
            env=kwargs.pop("env", self.env),
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            **kwargs,
        )

    def sbatch(self, *args: str, **kwargs) -> str:
        """Submit with ``sbatch --parsable ARGS``; return the job id."""
        out = self.run("sbatch", "--parsable", *args, **kwargs).stdout.strip()
        return out.split(";")[0]

    def job_state(self, job_id: str) -> str | None:
        """The job's state as ``squeue`` shows it (e.g. RUNNING, COMPLETED), or None."""
        res = self.run("squeue", "-h", "--states=all", "-j", str(job_id), "-o", "%T", check=False)
        state = res.stdout.strip().split("\n")[0].strip() if res.returncode == 0 else ""
        return state or None

    def wait_job(
        self, job_id: str, *, states: frozenset[str] | set[str] = FINISHED_STATES, timeout=60
    ) -> str:
        """Wait until the job reaches one of ``states`` (default: any final state); return it."""
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.job_state(job_id)
            if state in states:
                return state
            time.sleep(0.2)
        raise TimeoutError(f"job {job_id} still {state} after {timeout}s\n{self.logs()}")

    def jobs(self) -> list[tuple[str, str]]:
        """(job id, state) of every job slurmctld still knows about."""
        res = self.run("squeue", "-h", "--states=all", "-o", "%i %T", check=False)
        return [tuple(line.split()[:2]) for line in res.stdout.splitlines() if line.strip()]

    def node_state(self) -> str:
        res = self.run("sinfo", "-h", "-N", "-n", self.node, "-o", "%T", check=False)
        return res.stdout.strip() or f"? ({res.stderr.strip()})"

    def logs(self, tail: int = 40) -> str:
        """The last lines of each daemon's log, for error messages."""
        parts = []
        for log in sorted((self.root / "log").glob("*.log")):
            try:
                lines = log.read_text(errors="replace").splitlines()[-tail:]
            except OSError as exc:
                lines = [f"<unreadable: {exc}>"]
            parts.append(f"--- {log.name} ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def cancel_all(self, timeout: float = 30) -> None:
        """scancel every job and wait until none is pending or running."""
        active = [j for j, s in self.jobs() if s not in FINISHED_STATES]
        if not active:
            return
        self.run("scancel", *active, check=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s in FINISHED_STATES for _, s in self.jobs()):
                return
            time.sleep(0.2)


def _write_client_wrappers(root: Path, conf: Path) -> Path:
    """Client wrappers that default SLURM_CONF to our config; their folder goes first on PATH.

    Snakemake's slurm-jobstep plugin launches the job's `srun` with every SLURM_* variable
    except a few job ids removed, SLURM_CONF included, so inside a job a bare `srun` would look
    for /etc/slurm/slurm.conf. Jobs inherit PATH (sbatch --export=ALL), so these wrappers make
    the nested `srun` find this cluster without touching anything outside ``root``.
    """
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in (*CLIENTS, "sacct", "sstat", "sshare", "sacctmgr"):
        real = _which(name)
        if real is None:
            continue
        wrapper = bin_dir / name
        wrapper.write_text(
            "#!/bin/sh\n"
            f'SLURM_CONF="${{SLURM_CONF:-{conf}}}"\n'
            "export SLURM_CONF\n"
            f'exec {real} "$@"\n'
        )
        wrapper.chmod(0o755)
    return bin_dir


def _start(name: str, cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a Ctrl-C in pytest must not hit the daemons first
    )


def _wait(what: str, check: Callable[[], bool], procs, timeout: float, logs) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise SlurmStartError(
                    f"{name} exited with code {proc.returncode} while waiting for {what}\n{logs()}"
                )
        time.sleep(0.1)
    raise SlurmStartError(f"timed out after {timeout}s waiting for {what}\n{logs()}")


def _processes_with_env(key: str, value: str) -> list[int]:
    """PIDs of processes whose environment has ``key=value`` (ours: daemons, steps, jobs)."""
    needle = f"{key}={value}".encode()
    me = os.getpid()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def _kill_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _stop(cluster: SlurmCluster, marker: tuple[str, str]) -> None:
    """Cancel jobs, stop the daemons, then kill anything left that carries our marker."""
    procs = cluster._procs
    if procs.get("slurmctld") and procs["slurmctld"].poll() is None:
        with contextlib.suppress(Exception):
            cluster.cancel_all(timeout=15)
        with contextlib.suppress(Exception):
            cluster.run("scontrol", "shutdown", check=False, timeout=15)
    # Daemons first (slurmd, slurmctld), munged last: the others need it while stopping.
    for name in ("slurmd", "slurmctld", "munged"):
        proc = procs.get(name)
        if proc is None:
            continue
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    # slurmstepd and job processes are not our children (slurmd daemonises them); they and
    # any stray daemon carry the marker variable in their environment.
    deadline = time.monotonic() + 10
    sig = signal.SIGTERM
    while time.monotonic() < deadline:
        left = _processes_with_env(*marker)
        if not left:
            break
        _kill_all(left, sig)
        time.sleep(0.3)
        sig = signal.SIGKILL
    for proc in procs.values():
        with contextlib.suppress(Exception):
            proc.wait(timeout=1)


@contextlib.contextmanager
def slurm_cluster(
    tmp_dir: str | os.PathLike | None = None, *, start_timeout: float = 60
) -> Iterator[SlurmCluster]:
    """Start a single-node SLURM cluster under ``tmp_dir`` (a fresh temporary folder if None).

    Yields a :class:`SlurmCluster` once ``sinfo`` shows the node idle; on exit cancels all jobs,
    stops the daemons and kills every process it started. Raises :class:`SlurmUnavailable`
    when SLURM cannot run here and :class:`SlurmStartError` when it fails to come up.
    """
    reason = unavailable_reason()
    if reason:
        raise SlurmUnavailable(reason)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if tmp_dir is None:
            tmp_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="slurm-"))
        # Unix sockets have a ~107-byte path limit: keep the layout short.
        root = Path(tmp_dir).resolve() / "slurm"
        for sub in ("munge", "state", "spool", "run", "log"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        # munged refuses world-writable directories on the socket/key paths.
        for sub in ("", "munge"):
            os.chmod(root / sub, 0o700)
        os.chmod(root / "munge", 0o700)
        (root / "plugstack.conf").write_text("")

        node = _node_name()
        cpus = _cpu_count() * CPU_OVERSUBSCRIPTION
        mem_mb = _real_memory_mb()
        cluster_name = "t" + uuid.uuid4().hex[:8]
        conf = root / "slurm.conf"
        conf.write_text(
            _slurm_conf(root, cluster=cluster_name, node=node, cpus=cpus, mem_mb=mem_mb)
        )

        key = root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)

        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SQUEUE_", "SINFO_"))
        }
        env["SLURM_CONF"] = str(conf)
        bin_dir = _write_client_wrappers(root, conf)
        env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", os.defpath)])
        marker = ("SLURM_CONF", str(conf))

        cluster = SlurmCluster(
            root=root,
            conf=conf,
            node=node,
            partition=PARTITION,
            cpus=cpus,
            mem_mb=mem_mb,
            env=env,
        )
        stack.callback(_stop, cluster, marker)
        procs = cluster._procs
        log_dir = root / "log"
        munge = root / "munge"

        procs["munged"] = _start(
            "munged",
            [
                _which("munged"),
                "--foreground",
                "--force",
                f"--key-file={key}",
                f"--socket={munge / 'munge.socket'}",
                f"--pid-file={munge / 'munged.pid'}",
                f"--log-file={log_dir / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}",
                "--num-threads=2",
            ],
            env,
            log_dir / "munged.out",
        )
        _wait(
            "munged's socket",
            (munge / "munge.socket").exists,
            procs,
            start_timeout,
            cluster.logs,
        )

        procs["slurmctld"] = _start(
            "slurmctld",
            [_which("slurmctld"), "-D", "-i", "-f", str(conf)],
            env,
            log_dir / "slurmctld.out",
        )

        def ctld_up() -> bool:
            return cluster.run("scontrol", "ping", check=False).stdout.count("UP") > 0

        _wait("slurmctld to answer", ctld_up, procs, start_timeout, cluster.logs)

        procs["slurmd"] = _start(
            "slurmd",
            [_which("slurmd"), "-D", "-N", node, "-f", str(conf)],
            env,
            log_dir / "slurmd.out",
        )

        def node_idle() -> bool:
            return cluster.node_state() == "idle"

        _wait(f"node {node} to be idle", node_idle, procs, start_timeout, cluster.logs)
        cluster.startup_seconds = time.monotonic() - started
        yield cluster


_SHARED: dict = {"users": 0, "stack": None, "cluster": None}


def _acquire_shared() -> SlurmCluster:
    if _SHARED["users"] == 0:
        stack = contextlib.ExitStack()
        # A short base path: munge/slurm use Unix sockets whose paths must stay < 108 bytes.
        base = tempfile.mkdtemp(prefix="slurm-")
        stack.callback(shutil.rmtree, base, ignore_errors=True)
        try:
            _SHARED["cluster"] = stack.enter_context(slurm_cluster(base))
        except BaseException:
            stack.close()
            raise
        _SHARED["stack"] = stack
    _SHARED["users"] += 1
    return _SHARED["cluster"]


def _release_shared() -> None:
    _SHARED["users"] -= 1
    if _SHARED["users"] == 0:
        stack, _SHARED["stack"], _SHARED["cluster"] = _SHARED["stack"], None, None
        stack.close()


def slurm_cluster_fixture(scope: str = "session", name: str = "slurm_cluster"):
    """Make a pytest fixture that yields a running :class:`SlurmCluster`.

    Skips the test (with the reason) where SLURM cannot run. Bind the result to a module-level
    name in a test module or ``conftest.py``: ``slurm_cluster = slurm_cluster_fixture()``.
    Session-scoped fixtures made by this factory (in several modules, say) share one cluster,
    started on first use and stopped when the last of them is torn down; other scopes get a
    cluster of their own.
    """
    import pytest

    @pytest.fixture(scope=scope, name=name)
    def _fixture():
        reason = unavailable_reason()
        if reason:
            pytest.skip(reason)
        if scope == "session":
            cluster = _acquire_shared()
            try:
                yield cluster
            finally:
                _release_shared()
            return
        base = Path(tempfile.mkdtemp(prefix="slurm-"))
        try:
            with slurm_cluster(base) as cluster:
                yield cluster
        finally:
            shutil.rmtree(base, ignore_errors=True)

    return _fixture
