"""The study's four headline findings, measured on its own attacks table, for the report's
front page.

The paper's four findings, each restated as numbers this run can check (docs/method.md,
"Findings"):

1. **Scale alone**: finetuned larger models are more robust, though not reliably: ASR at the
   figure's iteration, smallest against largest size, per task and attack.
2. **Attack scaling**: ASR grows log-linearly with attack compute, at a rate that changes
   little with size: the per-size slopes and their trend per decade of parameters.
3. **Adversarial training**: it lowers ASR, more for larger models: ASR at the first and the
   last round, per size.
4. **Offense vs defense**: the slope of log attack compute needed to reach the first target
   ASR on log defense compute, per size; below 1, doubling the defense makes the attack need
   less than double, the attacker's advantage.

A finding the table cannot measure (no adversarially trained models) says so rather than
disappearing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from robustness_scaling.analysis.metrics import fit_ols, offense_defense, slopes_table
from robustness_scaling.figures.options import FigureOptions
from robustness_scaling.figures.selection import at_iteration, finetuned, matched
from robustness_scaling.figures.style import attack_label, size_label


@dataclass(frozen=True)
class Finding:
    """One headline: what the paper found, what this run measured, the numbers behind it.
    The measured sentence states the numbers, not a verdict the numbers might not bear."""

    title: str
    measured: str
    rows: pd.DataFrame

    @property
    def claim(self) -> str:
        return CLAIMS[self.title]


CLAIMS = {
    "1. Scale alone": (
        "The paper: without adversarial training, larger models tend to be more robust, but "
        "not reliably: on some tasks and attacks they are not."
    ),
    "2. Attack scaling": (
        "The paper: the logit of attack success grows linearly in the log of attack compute, "
        "at a slope that changes little with model size."
    ),
    "3. Adversarial training": (
        "The paper: adversarial training lowers attack success at every size, and larger "
        "models gain more from the same fraction of their pretraining compute."
    ),
    "4. Offense vs defense": (
        "The paper: against adversarially trained models, the attack compute needed to reach a "
        "target success rate grows with defense compute; on log–log axes a slope below 1 "
        "favours the attacker (doubling the defense costs the attack less than double), above "
        "1 the defender."
    ),
}


def headline_findings(table: pd.DataFrame, options: FigureOptions | None = None) -> list[Finding]:
    options = options or FigureOptions()
    return [
        _scale_alone(table, options),
        _attack_scaling(table),
        _adversarial_training(table, options),
        _offense_defense(table, options),
    ]


def _name(row) -> str:
    return f"{row.family} · {row.task} · {attack_label(row.attack, row.position)}"


def _medians(rows: pd.DataFrame, value: str, by: list[str]) -> pd.DataFrame:
    return rows.groupby(by, sort=True)[value].median().reset_index()


def _scale_alone(table: pd.DataFrame, options: FigureOptions) -> Finding:
    title = "1. Scale alone"
    rows = finetuned(table)
    if rows.empty:
        return Finding(title, "Not measured: the table has no finetuned (round-0) models.", _no())
    rows = at_iteration(rows, options.size_iteration)
    panel = ["family", "task", "attack", "position"]
    medians = _medians(rows, "asr", [*panel, "n_params", "iteration"])
    lines = []
    for key, group in medians.groupby(panel, sort=True):
        group = group.sort_values("n_params")
        small, large = group.iloc[0], group.iloc[-1]
        lines.append(
            {
                "evaluation": _name(pd.Series(dict(zip(panel, key, strict=True)))),
                "ASR": f"@{int(large.iteration)}",
                "smallest": f"{small.asr:.2f} ({size_label(small.n_params)})",
                "largest": f"{large.asr:.2f} ({size_label(large.n_params)})",
                "more robust at scale": "yes" if large.asr < small.asr else "no",
            }
        )
    out = pd.DataFrame(lines)
    n_yes = int((out["more robust at scale"] == "yes").sum())
    measured = (
        f"This run: the largest model has a lower median ASR than the smallest in {n_yes} of "
        f"{len(out)} evaluations."
    )
    return Finding(title, measured, out)


def _attack_scaling(table: pd.DataFrame) -> Finding:
    title = "2. Attack scaling"
    rows = finetuned(table)
    slopes = slopes_table(rows) if not rows.empty else pd.DataFrame()
    if slopes.empty or not np.isfinite(slopes["slope"]).any():
        return Finding(
            title, "Not measured: no finetuned model has two iterations with 0 < ASR < 1.", _no()
        )
    slopes = slopes[np.isfinite(slopes["slope"])]
    lines = []
    for _, group in slopes.groupby(["family", "task", "attack", "position"], sort=True):
        first = group.iloc[0]
        lines.append(
            {
                "evaluation": _name(first),
                "slopes (per size)": ", ".join(f"{s:.2f}" for s in group["slope"]),
                "median R²": f"{group['r2'].median():.2f}",
                "trend per decade of size": (
                    f"{first.trend_slope:+.3f}" if np.isfinite(first.trend_slope) else "one size"
                ),
            }
        )
    out = pd.DataFrame(lines)
    measured = (
        f"This run: logit10 ASR rises {slopes['slope'].min():.2f} to "
        f"{slopes['slope'].max():.2f} per decade of attack compute (median fit R² "
        f"{slopes['r2'].median():.2f}); the trend column says how much the slope changes per "
        "decade of model size."
    )
    return Finding(title, measured, out)


def _adversarial_training(table: pd.DataFrame, options: FigureOptions) -> Finding:
    title = "3. Adversarial training"
    rows = matched(table)
    if rows.empty or rows["round"].max() == 0:
        return Finding(title, "Not measured: the table has no adversarially trained models.", _no())
    rows = at_iteration(rows, options.defense_iteration)
    by = ["family", "task", "attack", "position", "n_params", "round", "iteration"]
    medians = _medians(rows, "asr", by)
    lines = []
    for key, group in medians.groupby(by[:5], sort=True):
        first = group[group["round"] == group["round"].min()].iloc[0]
        last = group[group["round"] == group["round"].max()].iloc[0]
        lines.append(
            {
                "evaluation": _name(first),
                "size": size_label(key[4]),
                "ASR": f"@{int(last.iteration)}",
                "first round": f"{first.asr:.2f} (round {int(first['round'])})",
                "last round": f"{last.asr:.2f} (round {int(last['round'])})",
                "change": f"{last.asr - first.asr:+.2f}",
            }
        )
    out = pd.DataFrame(lines)
    change = pd.to_numeric(out["change"])
    first = out[out["evaluation"] == out["evaluation"].iloc[0]]
    measured = (
        f"This run: ASR fell in {int((change < 0).sum())} of {len(out)} size × evaluation "
        f"pairs, by {-change.median():.2f} at the median; on {first['evaluation'].iloc[0]}, "
        f"from {first['first round'].iloc[0]} to {first['last round'].iloc[0]} at "
        f"{first['size'].iloc[0]} and from {first['first round'].iloc[-1]} to "
        f"{first['last round'].iloc[-1]} at {first['size'].iloc[-1]}."
    )
    return Finding(title, measured, out)


def _offense_defense(table: pd.DataFrame, options: FigureOptions) -> Finding:
    target = options.offense_targets[0]
    title = "4. Offense vs defense"
    trained = matched(table[table["round"] > 0])
    if trained.empty:
        return Finding(title, "Not measured: the table has no adversarially trained models.", _no())
    points = offense_defense(trained, [target])
    points = points[points["reached"] & (points["defense_flops"] > 0)]
    lines = []
    keys = ["family", "task", "attack", "position", "n_params"]
    for key, group in points.groupby(keys, sort=True):
        per_round = group.groupby("round")[
            ["defense_flops_fraction_pretrain", "attack_flops_per_example_to_reach"]
        ].median()
        fit = fit_ols(np.log10(per_round.iloc[:, 0]), np.log10(per_round.iloc[:, 1]))
        if not np.isfinite(fit.slope):
            continue
        lines.append(
            {
                "evaluation": _name(group.iloc[0]),
                "size": size_label(key[4]),
                "rounds": len(per_round),
                "slope": f"{fit.slope:.2f}",
                "R²": f"{fit.r2:.2f}" if np.isfinite(fit.r2) else "",
            }
        )
    if not lines:
        return Finding(
            title,
            f"Not measured: no size reached {100 * target:g}% ASR in two trained rounds.",
            _no(),
        )
    out = pd.DataFrame(lines)
    slopes = pd.to_numeric(out["slope"])
    measured = (
        f"This run: per decade of defense compute, the attack compute needed to reach "
        f"{100 * target:g}% ASR grows by {slopes.median():.2f} decades at the median (below 1 "
        f"for {int((slopes < 1).sum())} of {len(out)} size × evaluation pairs)."
    )
    return Finding(title, measured, out)


def _no() -> pd.DataFrame:
    return pd.DataFrame()


def front_page_rst(
    study: Mapping[str, Any], findings: list[Finding], options: FigureOptions
) -> str:
    """The report's front page: what was run (``study``: the config's study, family, sizes,
    tasks, seeds, runtime, attack budgets and adversarial training), then the findings."""
    name = str(study.get("study") or "study")
    title = f"Scaling trends in language-model robustness: {name}"
    runtime = study.get("runtime") or {}
    attacks = ", ".join(
        f"{attack} (budgets {', '.join(map(str, budgets))})"
        for attack, budgets in (study.get("attacks") or {}).items()
    )
    adversarial = study.get("adversarial_training")
    if adversarial:
        rounds = adversarial["rounds"]
        if isinstance(rounds, Mapping):
            rounds = ", ".join(f"{size}: {n}" for size, n in rounds.items())
        training = f"{adversarial['attack_name']}, rounds per size {rounds}"
    else:
        training = "none (a finetuning-only study)"
    seeds = (
        "mean with a 95 % bootstrap interval"
        if options.seed_summary == "mean"
        else "median with the min–max range"
    )
    lines = [
        title,
        "=" * len(title),
        "",
        'This report reproduces the measurements of "Scaling Trends in Language Model '
        'Robustness" (Howe et al., arXiv 2407.18213) on the study below: how robust classifiers '
        "of growing size are to attacks of growing compute, before and after adversarial "
        "training.",
        "",
        "The study",
        "---------",
        "",
        f"- **Models**: {study.get('family')}, sizes {', '.join(map(str, study.get('sizes', [])))}",
        f"- **Tasks**: {', '.join(study.get('tasks', []))}; "
        f"seeds {', '.join(map(str, study.get('seeds', [])))}",
        f"- **Evaluation attacks**: {attacks}",
        f"- **Adversarial training**: {training}",
        f"- **Precision**: {runtime.get('dtype')} weights, autocast {runtime.get('autocast')}",
        f"- **Seeds in the figures**: {seeds}",
        "",
        "Headline findings, measured on this run",
        "---------------------------------------",
        "",
        "Each of the paper's four findings beside the numbers this run's attacks table "
        "(``results/tables/attacks.csv``) gives; the method is in docs/method.md. The figures "
        "follow, each captioned with what it shows and how it was computed.",
        "",
        findings_rst(findings),
    ]
    return "\n".join(lines)


def findings_rst(findings: list[Finding]) -> str:
    """The findings as reStructuredText for the report's front page: a section each, its
    measured sentence, and its numbers as a table."""
    parts = []
    for finding in findings:
        parts += [finding.title, "~" * len(finding.title), ""]
        parts += [finding.claim, "", f"**{finding.measured}**", ""]
        if not finding.rows.empty:
            parts += [_list_table(finding.rows), ""]
    return "\n".join(parts)


def _list_table(rows: pd.DataFrame) -> str:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for values in [list(rows.columns), *rows.astype(str).to_numpy().tolist()]:
        lines.append(f"   * - {values[0]}")
        lines += [f"     - {value}" for value in values[1:]]
    return "\n".join(lines)
