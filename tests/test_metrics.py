"""Metrics against hand-computed cases, and the attacks-table schema's validation messages."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustness_scaling.analysis.metrics import (
    ATTACK_FRACTION,
    DEFENSE_FRACTION,
    compute_to_reach,
    fit_ols,
    laplace_smooth,
    logit10,
    offense_defense,
    size_slopes,
    slope_trend,
    slopes_table,
    smoothed_logit_asr,
    with_compute_fractions,
)
from robustness_scaling.analysis.synthetic import synthetic_table
from robustness_scaling.analysis.tables import (
    COLUMN_NAMES,
    COLUMNS,
    TableError,
    read_table,
    validate_table,
    write_table,
)

# --- smoothing and logit -----------------------------------------------------------------------


def test_laplace_smoothing_adds_one_success_and_one_failure():
    assert laplace_smooth(0.0, 198) == pytest.approx(1 / 200)
    assert laplace_smooth(1.0, 198) == pytest.approx(199 / 200)
    assert laplace_smooth(0.5, 8) == pytest.approx(0.5)
    assert laplace_smooth(0.25, 4) == pytest.approx(2 / 6)
    np.testing.assert_allclose(laplace_smooth(np.array([0.0, 0.1]), 10), [1 / 12, 2 / 12])


def test_logit10_values_and_infinities():
    assert logit10(0.5) == pytest.approx(0.0)
    assert logit10(10 / 11) == pytest.approx(1.0)
    assert logit10(1 / 101) == pytest.approx(-2.0)
    assert logit10(0.0) == -math.inf
    assert logit10(1.0) == math.inf
    # smoothing keeps the extremes finite: (0·98 + 1)/100 = 0.01 → log10(1/99)
    assert smoothed_logit_asr(0.0, 98) == pytest.approx(math.log10(1 / 99))


# --- a hand-made table -------------------------------------------------------------------------


def curve_rows(
    size: str,
    n_params: int,
    asr: list[float],
    per_iteration: float,
    seed: int = 0,
    round_: int = 0,
    pretrain: float = 1e12,
    n_val: int = 100,
    n_attacked: int = 80,
    defense: float = 0.0,
    attack: str = "gcg",
    training_attack: str = "",
) -> list[dict]:
    """One ASR-per-iteration curve: ``asr[i]`` at iteration i, ``per_iteration`` FLOPs each."""
    return [
        {
            "family": "pythia",
            "size": size,
            "task": "spam",
            "seed": seed,
            "round": round_,
            "attack": attack,
            "position": "suffix",
            "training_attack": training_attack,
            "judge": "",
            "precision": "float32",
            "iteration": i,
            "n_params": n_params,
            "pretrain_flops": pretrain,
            "clean_accuracy": n_attacked / n_val,
            "n_val": n_val,
            "n_attacked": n_attacked,
            "asr": a,
            "attack_flops_per_example": i * per_iteration / n_attacked,
            "attack_flops": i * per_iteration,
            "judge_flops": 0.0,
            "defense_flops": defense,
        }
        for i, a in enumerate(asr)
    ]


def exact_line_asr(intercept: float, slope: float, iterations: int, per_iteration: float):
    """ASR whose logit10 is exactly ``intercept + slope·log10(attack fraction)`` (pretrain 1e12)."""
    asr = [0.0]
    for i in range(1, iterations + 1):
        logit = intercept + slope * math.log10(i * per_iteration / 1e12)
        asr.append(1 / (1 + 10 ** (-logit)))
    return asr


def test_compute_fractions_average_over_seeds():
    rows = curve_rows("a", 10, [0, 0.1], 2e9, seed=0, defense=1e9)
    rows += curve_rows("a", 10, [0, 0.2], 4e9, seed=1, defense=3e9)
    out = with_compute_fractions(validate_table(pd.DataFrame(rows)))
    assert out[ATTACK_FRACTION].tolist() == pytest.approx([0, 3e-3, 0, 3e-3])
    assert out[DEFENSE_FRACTION].tolist() == pytest.approx([2e-3] * 4)


# --- slopes ------------------------------------------------------------------------------------


def test_fit_ols_exact_line_and_degenerate_cases():
    fit = fit_ols([0, 1, 2, 3], [1, 3, 5, 7])
    assert (fit.slope, fit.intercept, fit.r2, fit.n_points) == pytest.approx((2, 1, 1, 4))
    assert math.isnan(fit_ols([1.0], [2.0]).slope)
    assert math.isnan(fit_ols([1.0, 1.0], [2.0, 3.0]).slope)
    assert math.isnan(fit_ols([1.0, 2.0], [3.0, 3.0]).r2)  # nothing to explain
    noisy = fit_ols([0, 1, 2, 3], [0, 1, 1, 2])
    assert noisy.slope == pytest.approx(0.6)
    assert noisy.r2 == pytest.approx(0.9)  # 1 − 0.2 / 2


def test_size_slopes_recover_exact_lines_over_seeds():
    rows = []
    for seed in (0, 1):
        rows += curve_rows("small", 1_000, exact_line_asr(2.0, 0.5, 8, 1e6), 1e6, seed=seed)
        rows += curve_rows("large", 100_000, exact_line_asr(1.0, 0.25, 8, 1e6), 1e6, seed=seed)
    slopes = size_slopes(validate_table(pd.DataFrame(rows)))
    assert slopes["size"].tolist() == ["small", "large"]  # ordered by parameter count
    assert slopes["slope"].tolist() == pytest.approx([0.5, 0.25])
    assert slopes["intercept"].tolist() == pytest.approx([2.0, 1.0])
    assert slopes["r2"].tolist() == pytest.approx([1.0, 1.0])
    assert slopes["n_points"].tolist() == [16, 16]  # 8 iterations × 2 seeds, iteration 0 dropped

    trend = slope_trend(slopes).iloc[0]
    # slopes 0.5 at log10 N = 3 and 0.25 at 5: −0.125 per decade, intercept 0.875
    assert trend["trend_slope"] == pytest.approx(-0.125)
    assert trend["trend_intercept"] == pytest.approx(0.875)
    assert trend["trend_r2"] == pytest.approx(1.0)
    assert trend["trend_n_sizes"] == 2


def test_size_slopes_drop_asr_of_exactly_zero_and_one():
    asr = exact_line_asr(0.0, 1.0, 6, 1e6)
    asr[2], asr[5] = 0.0, 1.0  # unsmoothed logit is infinite there: dropped, not clipped
    slopes = size_slopes(validate_table(pd.DataFrame(curve_rows("a", 10, asr, 1e6))))
    row = slopes.iloc[0]
    assert row["n_points"] == 4
    assert (row["slope"], row["intercept"], row["r2"]) == pytest.approx((1.0, 0.0, 1.0))


def test_slopes_table_repeats_the_trend_on_every_size():
    table = synthetic_table(seeds=(0,), rounds=0)
    out = slopes_table(table)
    assert {"slope", "r2", "n_points", "trend_slope", "trend_r2"} <= set(out.columns)
    for _, group in out.groupby(["attack", "position"]):
        assert group["trend_slope"].nunique() == 1
        assert len(group) == 4


# --- offense vs defense ------------------------------------------------------------------------


def test_compute_to_reach_exact_between_and_never():
    compute = [0, 10, 20, 30]
    asr = [0.0, 0.01, 0.03, 0.06]
    assert compute_to_reach(compute, asr, 0.01) == pytest.approx(10)  # exact hit
    assert compute_to_reach(compute, asr, 0.02) == pytest.approx(15)  # halfway from 1% to 3%
    assert compute_to_reach(compute, asr, 0.05) == pytest.approx(20 + 10 * 2 / 3)
    assert math.isnan(compute_to_reach(compute, asr, 0.10))  # never reached


def test_compute_to_reach_takes_the_first_crossing_of_a_non_monotone_curve():
    # GCG keeps no best candidate: ASR may fall back below the target after reaching it
    assert compute_to_reach([0, 1, 2, 3], [0.0, 0.04, 0.01, 0.08], 0.02) == pytest.approx(0.5)


def test_compute_to_reach_without_the_clean_point_starts_from_zero():
    assert compute_to_reach([10, 20], [0.04, 0.08], 0.02) == pytest.approx(5)


def test_offense_defense_per_model_and_round():
    rows = curve_rows("a", 10, [0.0, 0.01, 0.03, 0.06], 1e9, pretrain=1e12, n_val=100)
    rows += curve_rows(
        "a",
        10,
        [0.0, 0.0, 0.01, 0.02],
        1e9,
        round_=1,
        defense=5e10,
        training_attack="gcg",
    )
    table = validate_table(pd.DataFrame(rows))
    out = offense_defense(table, targets=(0.02, 0.05))
    assert len(out) == 4
    r0 = out[(out["round"] == 0)].set_index("target_asr")
    # per example = total / n_val: 1e9/100 = 1e7 FLOPs per iteration; 2% at iteration 1.5
    assert r0.loc[0.02, "iteration_to_reach"] == pytest.approx(1.5)
    assert r0.loc[0.02, "attack_flops_per_example_to_reach"] == pytest.approx(1.5e7)
    assert r0.loc[0.02, ATTACK_FRACTION] == pytest.approx(1.5e-5)
    assert r0.loc[0.05, "iteration_to_reach"] == pytest.approx(2 + 2 / 3)
    r1 = out[(out["round"] == 1)].set_index("target_asr")
    assert r1.loc[0.02, "iteration_to_reach"] == pytest.approx(3.0)  # exact hit at the end
    assert r1.loc[0.02, DEFENSE_FRACTION] == pytest.approx(0.05)
    assert not r1.loc[0.05, "reached"]
    assert math.isnan(r1.loc[0.05, ATTACK_FRACTION])
    assert r1.loc[0.05, "max_asr"] == pytest.approx(0.02)
    assert r1.loc[0.05, "max_attack_flops_per_example"] == pytest.approx(3e7)

    attacked = offense_defense(table, targets=(0.02,), per_example="attacked")
    # divided by the 80 attacked examples instead of the 100 validation examples
    assert attacked.loc[attacked["round"] == 0, "attack_flops_per_example_to_reach"].item() == (
        pytest.approx(1.5e9 / 80)
    )
    with pytest.raises(ValueError, match="per_example"):
        offense_defense(table, per_example="everything")


# --- the table schema --------------------------------------------------------------------------


def test_validate_names_every_missing_column():
    table = synthetic_table(seeds=(0,), rounds=0).drop(columns=["asr", "defense_flops"])
    with pytest.raises(TableError, match=r"missing column\(s\) \['asr', 'defense_flops'\]"):
        validate_table(table)


def test_validate_reports_bad_values_all_at_once():
    table = synthetic_table(seeds=(0,), rounds=0)
    table.loc[3, "asr"] = 1.5
    table["seed"] = table["seed"].astype(object)
    table.loc[0, "seed"] = "zero"
    table.loc[1, "task"] = ""
    with pytest.raises(TableError) as error:
        validate_table(table)
    message = str(error.value)
    assert "`asr`: must lie in [0, 1], got e.g. [1.5]" in message
    assert "`seed`: non-numeric or missing value(s), e.g. ['zero']" in message
    assert "`task`: 1 empty value(s)" in message


def test_validate_rejects_duplicate_rows_and_impossible_counts():
    table = synthetic_table(seeds=(0,), rounds=0)
    with pytest.raises(TableError, match="share their key columns"):
        validate_table(pd.concat([table, table.head(1)]))
    table.loc[0, "n_attacked"] = table.loc[0, "n_val"] + 1
    with pytest.raises(TableError, match="`n_attacked` exceeds `n_val`"):
        validate_table(table)


def test_validate_canonicalises_dtypes():
    table = synthetic_table(seeds=(0,), rounds=0)
    table["seed"] = table["seed"].astype(float)
    table["training_attack"] = None
    out = validate_table(table)
    assert out["seed"].dtype == "int64"
    assert (out["training_attack"] == "").all()
    assert list(out.columns[: len(COLUMN_NAMES)]) == list(COLUMN_NAMES)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_tables_round_trip_with_string_sizes(tmp_path, suffix):
    table = synthetic_table(sizes={"1": 1000, "7": 7000}, seeds=(0,), rounds=0)
    path = tmp_path / f"attacks{suffix}"
    write_table(table, path)
    back = read_table(path)
    assert back["size"].tolist() == table["size"].tolist()
    assert (back["training_attack"] == "").all()
    pd.testing.assert_frame_equal(back, table)


def test_read_table_rejects_unknown_formats(tmp_path):
    with pytest.raises(TableError, match="use .csv or .parquet"):
        read_table(tmp_path / "attacks.xlsx")


def test_synthetic_table_follows_the_schema_and_the_paper_trends():
    table = synthetic_table()
    assert list(table.columns) == list(COLUMN_NAMES)
    assert (table.loc[table["iteration"] == 0, "asr"] == 0).all()
    assert (table.loc[table["round"] == 0, "defense_flops"] == 0).all()
    slopes = size_slopes(table[table["round"] == 0])
    gcg = slopes[slopes["attack"] == "gcg"]
    assert gcg["slope"].iloc[0] > gcg["slope"].iloc[-1]  # small models are attacked faster


def test_the_schema_page_documents_every_column():
    page = (Path(__file__).resolve().parents[1] / "docs/tables.md").read_text()
    undocumented = [c.name for c in COLUMNS if f"| `{c.name}` |" not in page]
    assert not undocumented, f"docs/tables.md lacks rows for {undocumented}"
