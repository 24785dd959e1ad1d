#!/usr/bin/env bash
# Install a minimal single-node SLURM (slurmctld + slurmd + client tools) and munge, for the
# tests marked `slurm` (tests/slurm_cluster.py starts the daemons itself, under a temporary
# folder; nothing here configures or starts a system-wide cluster).
#
# Idempotent: does nothing when the binaries are already present. Needs root (or sudo) and apt.
set -euo pipefail

need=(slurmctld slurmd sbatch squeue sinfo scancel munged mungekey)
missing=0
for b in "${need[@]}"; do
    if ! command -v "$b" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$b" ]; then
        missing=1
    fi
done
if [ "$missing" -eq 0 ]; then
    echo "install-slurm: slurm and munge already installed: $(slurmd -V)"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install-slurm: need root or sudo to install slurm-wlm and munge" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
# slurm-wlm pulls slurmctld, slurmd and slurm-client; --no-install-recommends keeps it small
# (no slurmdbd/mariadb, no X11 tools). procps gives `ps`, handy when debugging.
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
    slurm-wlm slurmctld slurmd slurm-client munge procps
# The packages may start system services (under systemd); the tests run their own daemons
# with their own config and sockets, so stop the system ones if they came up.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    "${SUDO[@]}" systemctl disable --now slurmctld slurmd munge >/dev/null 2>&1 || true
fi
echo "install-slurm: installed $(slurmd -V)"
