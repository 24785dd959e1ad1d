"""How long `snakemake -n` takes to plan a study's whole DAG, and its peak memory.

Copies the workflow (Snakefile, config.yaml, config/, workflow/, profiles/, envs/) into a
temporary folder, so nothing in the repository is touched, and times

    snakemake -n --configfile config/paper-pythia.yaml

with GNU time (wall clock and maximum resident set size), several times. With ``--scale`` it
also plans the same study with more seeds (e.g. 50 and 500 seeds: 3,000 and 30,000 finetuning
cells) to show how planning grows with the number of jobs.

    .venv/bin/python benchmarks/planning/plan.py                      # paper-pythia, 3 repeats
    .venv/bin/python benchmarks/planning/plan.py --scale 50 500       # and two larger grids
    .venv/bin/python benchmarks/planning/plan.py --profile            # and a cProfile of one run

Prints a Markdown table (and with ``--json PATH`` writes the measurements there).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW_FILES = ["Snakefile", "config.yaml", "config", "workflow", "profiles", "envs"]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TIME = "/usr/bin/time"


def copy_workflow(repo: Path, folder: Path) -> Path:
    for name in WORKFLOW_FILES:
        source = repo / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy(source, folder / name)
    return folder


def plan_env(repo: Path, folder: Path) -> dict[str, str]:
    """Offline, no user profiles, and the library of the copied workflow's repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(HF_HUB_OFFLINE="1", XDG_CONFIG_HOME=str(folder / ".xdg"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo / "src"), env.get("PYTHONPATH")]))
    return env


def plan_once(folder: Path, configfile: str, env: dict[str, str]) -> dict:
    """One `snakemake -n` under GNU time: wall seconds, peak RSS (MiB) and planned jobs."""
    shutil.rmtree(folder / ".snakemake", ignore_errors=True)
    result = subprocess.run(
        [TIME, "-v", SNAKEMAKE, "-n", "--configfile", configfile],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise SystemExit(f"snakemake -n failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", result.stderr)[1]
    seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.split(":"))))
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)[1])
    stats = (result.stdout + result.stderr).split("Job stats:")[1].split("\n\n")[0]
    jobs = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}
    return {"seconds": seconds, "peak_rss_mib": rss_kb / 1024, "jobs": jobs}


def scaled_config(folder: Path, configfile: str, seeds: int) -> str:
    config = yaml.safe_load((folder / configfile).read_text())
    config["seeds"] = list(range(seeds))
    name = f"config/{Path(configfile).stem}-{seeds}seeds.yaml"
    (folder / name).write_text(yaml.safe_dump(config, sort_keys=False))
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", default="config/paper-pythia.yaml")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=int, nargs="*", default=[], metavar="SEEDS")
    parser.add_argument("--profile", action="store_true", help="also cProfile one plan")
    parser.add_argument("--repo", type=Path, default=REPO, help="workflow to copy")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="plan-") as tmp:
        folder = copy_workflow(args.repo, Path(tmp))
        env = plan_env(args.repo.resolve(), folder)
        studies = [(args.configfile, None)]
        studies += [(scaled_config(folder, args.configfile, n), n) for n in args.scale]
        for configfile, seeds in studies:
            runs = [plan_once(folder, configfile, env) for _ in range(args.repeats)]
            rows.append(
                {
                    "configfile": configfile,
                    "seeds": seeds,
                    "jobs": runs[0]["jobs"],
                    "seconds": [r["seconds"] for r in runs],
                    "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
                }
            )
        if args.profile:
            out = Path(tmp) / "plan.prof"
            subprocess.run(
                [sys.executable, "-m", "cProfile", "-o", str(out), SNAKEMAKE, "-n", "--quiet"]
                + ["--configfile", studies[-1][0]],
                cwd=folder,
                env=env,
                capture_output=True,
                check=True,
            )
            import pstats

            pstats.Stats(str(out)).sort_stats("cumulative").print_stats(25)

    print(f"snakemake -n, {os.cpu_count()} CPUs, {args.repeats} runs each (median, max RSS)\n")
    print("| study | jobs planned | finetune jobs | wall time (median) | runs | peak RSS |")
    print("| --- | ---: | ---: | ---: | --- | ---: |")
    for row in rows:
        runs = ", ".join(f"{s:.2f}" for s in row["seconds"])
        print(
            f"| `{row['configfile']}` | {row['jobs'].get('total', 0):,} | "
            f"{row['jobs'].get('finetune', 0):,} | {statistics.median(row['seconds']):.2f} s | "
            f"{runs} | {row['peak_rss_mib']:.0f} MiB |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
