"""Metrics of docs/method.md "Metrics" and "Figures", from the attacks table (``tables.py``).

- ``laplace_smooth`` and ``logit10``: the y-transform of every logit-ASR plot. Smoothing keeps
  ASR of exactly 0 or 1 finite on a logit axis.
- ``with_compute_fractions``: the study's two x-axes, attack and defense compute as fractions of
  pretraining compute, each averaged over seeds as the paper does, so seeds of one size share an
  x value and differ only in ASR.
- ``size_slopes``, ``slope_trend``, ``slopes_table``: how fast attack success grows with attack
  compute, per model size, and how that rate changes with size.
- ``compute_to_reach`` and ``offense_defense``: the attack compute needed to reach a target ASR,
  against the defense compute spent on adversarial training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from robustness_scaling.analysis.tables import CURVE_COLUMNS, MODEL_COLUMNS

ATTACK_FRACTION = "attack_flops_fraction_pretrain"
DEFENSE_FRACTION = "defense_flops_fraction_pretrain"
DEFAULT_TARGETS: tuple[float, ...] = (0.01, 0.02, 0.05)

SLOPE_GROUP: tuple[str, ...] = ("family", "task", "training_attack", "round", "attack", "position")
"""Columns of one attack-scaling analysis: the sizes within it are compared with each other."""


def laplace_smooth(asr, n):
    """Laplace-smoothed ASR ``(asr·n + 1)/(n + 2)``: add one success and one failure.

    ``n`` is the paper's ``dataset_n_val`` (the table's ``n_val``). Works elementwise on scalars,
    arrays and Series alike.
    """
    return (np.asarray(asr, dtype=float) * n + 1.0) / (np.asarray(n, dtype=float) + 2.0)


def logit10(p):
    """Base-10 logit ``log10(p / (1 − p))``; ±inf at 0 and 1, hence smoothing before plotting."""
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore"):
        return np.log10(p) - np.log10(1.0 - p)


def smoothed_logit_asr(asr, n):
    """``logit10(laplace_smooth(asr, n))``: the y axis of attack-scaling and defense plots."""
    return logit10(laplace_smooth(asr, n))


def with_compute_fractions(table: pd.DataFrame) -> pd.DataFrame:
    """Add the x-axis columns of docs/method.md "Metrics" to a copy of the table.

    - ``attack_flops_fraction_pretrain``: cumulative total attack FLOPs (over attacked examples)
      at this iteration, averaged over seeds, divided by pretraining FLOPs. The paper writes this
      as ``iteration × mean_seeds(flops_per_iteration) / pretrain``; averaging the cumulative
      count is the same for a constant cost per iteration and stays right when it is not (BEAST).
    - ``defense_flops_fraction_pretrain``: cumulative defense FLOPs of this round, averaged over
      seeds, divided by pretraining FLOPs.
    """
    out = table.copy()
    attack_group = [c for c in (*CURVE_COLUMNS, "iteration") if c != "seed"]
    defense_group = [c for c in MODEL_COLUMNS if c != "seed"]
    attack = out.groupby(attack_group, sort=False)["attack_flops"].transform("mean")
    defense = out.groupby(defense_group, sort=False)["defense_flops"].transform("mean")
    out[ATTACK_FRACTION] = attack / out["pretrain_flops"]
    out[DEFENSE_FRACTION] = defense / out["pretrain_flops"]
    return out


# --- attack-scaling slopes ---------------------------------------------------------------------


@dataclass(frozen=True)
class OLSFit:
    """An ordinary-least-squares line ``y = slope·x + intercept`` with its R² and point count."""

    slope: float
    intercept: float
    r2: float
    n_points: int


def fit_ols(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> OLSFit:
    """Fit ``y ~ x`` by OLS. Fewer than two distinct x give NaNs rather than an error, because a
    size with too few usable points should leave a gap in a figure, not stop the analysis.
    R² is 1 for a perfect fit, NaN when y is constant (there is no variance to explain)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    if n < 2 or np.ptp(x) == 0:
        return OLSFit(np.nan, np.nan, np.nan, n)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = np.sum((y - y.mean()) ** 2)
    r2 = 1.0 - np.sum(residual**2) / total if total > 0 else np.nan
    return OLSFit(float(slope), float(intercept), float(r2), n)


def size_slopes(table: pd.DataFrame) -> pd.DataFrame:
    """Per size, the OLS slope of ``logit10(ASR)`` on ``log10(attack compute fraction)``.

    Points are every iteration of every seed. As docs/method.md "Metrics" specifies, ASR here is
    *not* smoothed and points with ASR of exactly 0 or 1 are dropped (their logit is infinite); so
    is iteration 0 (no compute, log undefined). One row per ``SLOPE_GROUP`` × size, with ``slope``,
    ``intercept``, ``r2`` and ``n_points`` (NaN slope where fewer than two points remain).
    """
    data = with_compute_fractions(table)
    data["usable"] = (data["asr"] > 0) & (data["asr"] < 1) & (data[ATTACK_FRACTION] > 0)
    columns = [*SLOPE_GROUP, "size", "n_params", "slope", "intercept", "r2", "n_points"]
    rows = []
    for key, group in data.groupby([*SLOPE_GROUP, "size"], sort=True):
        points = group[group["usable"]]
        fit = fit_ols(np.log10(points[ATTACK_FRACTION]), logit10(points["asr"]))
        rows.append(
            (*key, int(group["n_params"].iloc[0]), fit.slope, fit.intercept, fit.r2, fit.n_points)
        )
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values([*SLOPE_GROUP, "n_params"], ignore_index=True)


def slope_trend(slopes: pd.DataFrame) -> pd.DataFrame:
    """OLS of the per-size slope on ``log10(n_params)``, per ``SLOPE_GROUP``.

    Its slope says how attack scaling changes per decade of model size (the paper's finding: it
    barely does for finetuned models). Columns: ``trend_slope``, ``trend_intercept``, ``trend_r2``,
    ``trend_n_sizes`` (sizes with a finite slope).
    """
    rows = []
    for key, group in slopes.groupby(list(SLOPE_GROUP), sort=True):
        finite = group[np.isfinite(group["slope"])]
        fit = fit_ols(np.log10(finite["n_params"]), finite["slope"])
        rows.append((*key, fit.slope, fit.intercept, fit.r2, fit.n_points))
    columns = [*SLOPE_GROUP, "trend_slope", "trend_intercept", "trend_r2", "trend_n_sizes"]
    return pd.DataFrame(rows, columns=columns)


def slopes_table(table: pd.DataFrame) -> pd.DataFrame:
    """``size_slopes`` with its group's ``slope_trend`` columns repeated on every row.

    This is ``results/tables/slopes.csv``: one self-contained table holding both regressions.
    """
    slopes = size_slopes(table)
    if slopes.empty:
        trend_columns = ["trend_slope", "trend_intercept", "trend_r2", "trend_n_sizes"]
        return slopes.reindex(columns=[*slopes.columns, *trend_columns])
    return slopes.merge(slope_trend(slopes), on=list(SLOPE_GROUP), how="left")


# --- offense vs defense ------------------------------------------------------------------------


def compute_to_reach(
    compute: Sequence[float] | np.ndarray, asr: Sequence[float] | np.ndarray, target: float
) -> float:
    """Attack compute at which the ASR-per-iteration curve first reaches ``target``.

    ``compute`` and ``asr`` are the curve's points in iteration order (cumulative compute). The
    curve is read as piecewise linear between iterations, as the paper does: an exact hit returns
    that point's compute, a crossing between two iterations is linearly interpolated, and a
    target never reached returns NaN. The first crossing counts, because GCG's ASR need not be
    monotone (it keeps no best candidate). A curve without its clean point gets one at (0, 0):
    iteration 0 costs nothing and succeeds never.
    """
    compute = np.asarray(compute, dtype=float)
    asr = np.asarray(asr, dtype=float)
    if len(compute) == 0 or compute[0] != 0:
        compute = np.concatenate([[0.0], compute])
        asr = np.concatenate([[0.0], asr])
    hits = np.flatnonzero(asr >= target)
    if len(hits) == 0:
        return float("nan")
    i = hits[0]
    if asr[i] == target or i == 0:
        return float(compute[i])
    weight = (target - asr[i - 1]) / (asr[i] - asr[i - 1])
    return float(compute[i - 1] + weight * (compute[i] - compute[i - 1]))


def offense_defense(
    table: pd.DataFrame,
    targets: Sequence[float] = DEFAULT_TARGETS,
    per_example: Literal["validation", "attacked"] = "validation",
) -> pd.DataFrame:
    """Per model × round × evaluation attack × target ASR: attack compute to reach the target,
    and the defense compute spent, both as fractions of pretraining (docs/method.md "Figures",
    type 6).

    Per-example attack compute follows docs/method.md "Metrics": the total over attacked examples
    divided by ``n_val`` (``per_example="validation"``); ``"attacked"`` divides by ``n_attacked``
    instead (the table's ``attack_flops_per_example``). ``reached`` is False and the compute columns
    NaN where the curve never reaches the target within its iterations: the needed compute is then
    only known to exceed ``max_attack_flops_per_example``.

    ``iteration_to_reach`` is fractional where interpolated. Defense compute is this seed's own;
    figures average it over seeds for the x axis, as the paper does.
    """
    if per_example not in ("validation", "attacked"):
        raise ValueError(f"per_example={per_example!r}; allowed: 'validation', 'attacked'")
    denominator = "n_val" if per_example == "validation" else "n_attacked"
    rows = []
    for key, curve in table.groupby(list(CURVE_COLUMNS), sort=True):
        curve = curve.sort_values("iteration")
        first = curve.iloc[0]
        per_example_flops = (curve["attack_flops"] / curve[denominator]).to_numpy()
        iterations = curve["iteration"].to_numpy(dtype=float)
        pretrain = float(first["pretrain_flops"])
        defense = float(curve["defense_flops"].iloc[0])
        for target in targets:
            flops = compute_to_reach(per_example_flops, curve["asr"], target)
            iteration = compute_to_reach(iterations, curve["asr"], target)
            rows.append(
                {
                    **dict(zip(CURVE_COLUMNS, key, strict=True)),
                    "n_params": int(first["n_params"]),
                    "pretrain_flops": pretrain,
                    "target_asr": float(target),
                    "reached": bool(np.isfinite(flops)),
                    "iteration_to_reach": iteration,
                    "attack_flops_per_example_to_reach": flops,
                    ATTACK_FRACTION: flops / pretrain,
                    "defense_flops": defense,
                    DEFENSE_FRACTION: defense / pretrain,
                    "max_asr": float(curve["asr"].max()),
                    "max_iteration": int(iterations.max()),
                    "max_attack_flops_per_example": float(per_example_flops.max()),
                }
            )
    columns = [
        *CURVE_COLUMNS,
        "n_params",
        "pretrain_flops",
        "target_asr",
        "reached",
        "iteration_to_reach",
        "attack_flops_per_example_to_reach",
        ATTACK_FRACTION,
        "defense_flops",
        DEFENSE_FRACTION,
        "max_asr",
        "max_iteration",
        "max_attack_flops_per_example",
    ]
    return pd.DataFrame(rows, columns=columns)
