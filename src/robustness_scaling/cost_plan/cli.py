"""The command line: a study's plan as a terminal table, its subtotals, total and
assumptions (``python -m robustness_scaling.cost_plan --configfile <study>.yaml``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml

from robustness_scaling.config import ConfigError, validate_config
from robustness_scaling.cost_plan.assumptions import assumptions
from robustness_scaling.cost_plan.plan import DEFAULT_FLOPS_PER_SECOND, cost_plan, totals

SCHEMA = Path(__file__).resolve().parents[3] / "workflow/schemas/config.schema.yaml"


def format_plan(plan: pd.DataFrame) -> str:
    """The plan as a terminal table, then per-stage subtotals and the study's total."""
    by_stage = (
        plan.groupby("stage", sort=False)
        .agg(
            jobs=("jobs", "sum"),
            flops=("flops", "sum"),
            gpu_hours=("gpu_hours", "sum"),
            peak_memory_gib=("peak_memory_gib", "max"),
        )
        .reset_index()
    )
    total = totals(plan)
    formatters = {
        "params": _count,
        "jobs": "{:,}".format,
        "flops": "{:.3e}".format,
        "gpu_hours": _hours,
        "peak_memory_gib": _gib,
    }
    headers = ["stage", "size", "params", "jobs", "FLOPs", "GPU-hours", "peak memory/GPU"]
    return "\n".join(
        [
            plan.to_string(index=False, formatters=formatters, header=headers),
            "",
            "By stage:",
            by_stage.to_string(
                index=False, formatters=formatters, header=[headers[0], *headers[3:]]
            ),
            "",
            f"Total: {total['jobs']:,} model jobs, {total['flops']:.3e} FLOPs, "
            f"{_hours(total['gpu_hours'])} GPU-hours; largest job {_gib(total['peak_memory_gib'])}",
        ]
    )


def _count(n: float) -> str:
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.3g}{suffix}"
    return f"{n:.0f}"


def _hours(hours: float) -> str:
    return f"{hours:,.1f}" if hours >= 0.05 else f"{hours:.2g}"


def _gib(gib: float) -> str:
    return f"{gib:,.1f} GiB" if gib >= 1 else f"{gib * 1024:,.1f} MiB"


def _token_override(text: str) -> tuple[str, int]:
    task, sep, count = text.partition("=")
    if not sep or not count.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected TASK=TOKENS (e.g. imdb=350), got {text!r}")
    return task.strip(), int(count)


def main(argv: Sequence[str] | None = None) -> int:
    """Print a study's cost plan; exit status 2 on a bad config or argument."""
    parser = argparse.ArgumentParser(
        prog="python -m robustness_scaling.cost_plan",
        description="Jobs, FLOPs, GPU-hours and peak memory of a study, from its config alone.",
    )
    parser.add_argument("--configfile", required=True, type=Path, help="the study's YAML")
    parser.add_argument(
        "--flops-per-second",
        type=float,
        default=DEFAULT_FLOPS_PER_SECOND,
        help=f"achieved FLOP/s of one GPU (default {DEFAULT_FLOPS_PER_SECOND:.3g})",
    )
    parser.add_argument(
        "--tokens",
        type=_token_override,
        action="append",
        default=[],
        metavar="TASK=N",
        help="a task's prompt tokens, replacing the estimate (repeatable)",
    )
    parser.add_argument(
        "--schema", type=Path, default=SCHEMA, help="the config schema (default: this checkout's)"
    )
    args = parser.parse_args(argv)
    try:
        raw = yaml.safe_load(args.configfile.read_text())
        config = validate_config(raw, args.schema)
        overrides = dict(args.tokens)
        plan = cost_plan(config, args.flops_per_second, overrides)
        notes = assumptions(config, args.flops_per_second, overrides)
    except (OSError, yaml.YAMLError, ConfigError, ValueError) as error:
        print(f"cost_plan: {error}", file=sys.stderr)
        return 2
    print(f"Cost plan of {config['study']} ({args.configfile}), family {config['family']}\n")
    print(format_plan(plan))
    print("\nAssumptions:\n" + "\n".join(f"- {line}" for line in notes))
    return 0
