"""The report's headline findings: each measured on the table, re-derived here independently."""

from __future__ import annotations

import pytest
from docutils.core import publish_parts

from robustness_scaling.analysis.synthetic import synthetic_table
from robustness_scaling.figures import FigureOptions
from robustness_scaling.findings import findings_rst, front_page_rst, headline_findings

SIZES = {"14m": 7_629_056, "410m": 353_824_768, "1.4b": 1_311_629_312}


@pytest.fixture(scope="module")
def table():
    return synthetic_table(sizes=SIZES, seeds=(0, 1), rounds=3)


def test_four_findings_with_this_runs_numbers(table):
    findings = headline_findings(table)
    assert [f.title for f in findings] == [
        "1. Scale alone",
        "2. Attack scaling",
        "3. Adversarial training",
        "4. Offense vs defense",
    ]
    # Finding 1, recomputed: median ASR over seeds at iteration 10 (gcg), smallest vs largest.
    gcg = table[(table["round"] == 0) & (table["attack"] == "gcg") & (table["iteration"] == 10)]
    by_size = gcg.groupby("size")["asr"].median()
    row = findings[0].rows.set_index("evaluation").loc["pythia · password_match · gcg (suffix)"]
    assert row["smallest"] == f"{by_size['14m']:.2f} (7.6M)"
    assert row["largest"] == f"{by_size['1.4b']:.2f} (1.3B)"
    assert row["more robust at scale"] == ("yes" if by_size["1.4b"] < by_size["14m"] else "no")
    # Finding 3, recomputed: the trained chain's median ASR at its first and last round.
    trained = table[(table["attack"] == "gcg") & (table["iteration"] == 32)]
    first = trained[trained["round"] == 0].groupby("size")["asr"].median()
    last = trained[trained["round"] == 3].groupby("size")["asr"].median()
    rows = findings[2].rows.set_index("size")
    assert rows.loc["7.6M", "first round"] == f"{first['14m']:.2f} (round 0)"
    assert rows.loc["1.3B", "last round"] == f"{last['1.4b']:.2f} (round 3)"
    for finding in findings:
        assert finding.measured.startswith("This run: ")
        assert finding.claim.startswith("The paper: ")


def test_a_finetuning_only_study_says_what_it_cannot_measure():
    table = synthetic_table(sizes=SIZES, seeds=(0,), rounds=0)
    findings = headline_findings(table, FigureOptions())
    assert findings[2].measured.startswith("Not measured: the table has no adversarially")
    assert findings[3].measured.startswith("Not measured: the table has no adversarially")
    assert findings[2].rows.empty


def test_the_front_page_is_valid_restructured_text(table):
    """Settings first, then the findings; a docutils warning would stop the rendering."""
    study = {
        "study": "demo",
        "family": "pythia",
        "sizes": list(SIZES),
        "tasks": ["password_match"],
        "seeds": [0, 1],
        "runtime": {"dtype": "float32", "autocast": "auto"},
        "attacks": {"gcg": [10, 32]},
        "adversarial_training": {"attack_name": "gcg", "rounds": {"14m": 3, "410m": 3}},
    }
    findings = headline_findings(table)
    text = front_page_rst(study, findings, FigureOptions(seed_summary="mean"))
    assert findings_rst(findings) in text
    html = publish_parts(text, writer="html", settings_overrides={"halt_level": 2})["body"]
    for shown in ("14m, 410m, 1.4b", "gcg (budgets 10, 32)", "14m: 3, 410m: 3", "bootstrap"):
        assert shown in html
    assert html.index("The study") < html.index("Offense vs defense") and "<table" in html
