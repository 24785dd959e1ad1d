"""Every figure is drawn from a synthetic table, and degrades to an annotated panel without data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from robustness_scaling.analysis.synthetic import synthetic_table
from robustness_scaling.analysis.tables import TableError
from robustness_scaling.figures import (
    FIGURES,
    FigureOptions,
    figure_paths,
    make_all_figures,
    size_label,
    style,
)
from robustness_scaling.figures.options import PAPER_SIZE_ITERATIONS

SMALL = {"14m": 7_629_056, "410m": 353_824_768, "1.4b": 1_311_629_312}
SMALL_ATTACKS = {"gcg": ("suffix", 12, 262.0), "gcg_infix90": ("infix90", 12, 262.0)}
QWEN = {"0.5B": 494_034_560, "1.5B": 1_543_717_376}
GCG = {"gcg": ("suffix", 12, 262.0)}


@pytest.fixture(autouse=True)
def low_resolution(monkeypatch):
    """Draw test PNGs at 72 dpi: the same figures, a third of the rendering time."""
    monkeypatch.setattr(style, "DPI", 72)


@pytest.fixture(scope="module")
def table():
    return synthetic_table(sizes=SMALL, seeds=(0, 1), rounds=4, attacks=SMALL_ATTACKS)


def assert_written(paths: list[Path]) -> None:
    assert sorted(p.suffix for p in paths) == [".pdf", ".png"]
    for path in paths:
        assert path.exists()
        assert path.stat().st_size > 3_000, f"{path} is suspiciously small"


def test_a_finetuning_only_study_gets_annotated_placeholders(tmp_path):
    table = synthetic_table(sizes=SMALL, seeds=(0,), rounds=0, attacks=SMALL_ATTACKS)
    assert (table["training_attack"] == "").all()
    written = make_all_figures(table, tmp_path)
    for paths in written.values():
        assert_written(paths)


@pytest.mark.parametrize("name", ["robustness_vs_size", "attack_scaling", "slopes_vs_size"])
def test_figures_of_finetuned_models_without_round_zero(table, tmp_path, name):
    trained_only = table[table["round"] > 0]
    assert_written(FIGURES[name](trained_only, tmp_path / name, FigureOptions()))


@pytest.mark.parametrize("keep", ["nothing", "clean rows only"])
def test_tables_without_attack_data_get_placeholders(table, tmp_path, keep):
    rows = table.iloc[:0] if keep == "nothing" else table[table["iteration"] == 0]
    for paths in make_all_figures(rows, tmp_path, families=["pythia"]).values():
        assert_written(paths)


def test_each_family_gets_its_own_figures_and_sizes(table, tmp_path, monkeypatch):
    """One figure per family, its legend that family's sizes only; a named family without
    rows gets a placeholder; rows of a family not named are refused, not dropped."""
    qwen = synthetic_table(sizes=QWEN, family="qwen2.5", seeds=(0,), rounds=2, attacks=GCG)
    with pytest.raises(ValueError, match="draws one model family.*pythia, qwen2.5"):
        FIGURES["attack_scaling"](pd.concat([table, qwen]), tmp_path / "both", None)
    with pytest.raises(ValueError, match="rows of qwen2.5, not among the families to draw"):
        make_all_figures(pd.concat([table, qwen]), tmp_path / "out", families=["pythia"])
    legends = {}
    save = style.save_figure

    def noted(fig, stem, formats=style.FORMATS):
        if fig.legends:
            legends[Path(stem).name] = [t.get_text() for t in fig.legends[0].get_texts()]
        return save(fig, stem, formats)

    monkeypatch.setattr(style, "save_figure", noted)
    written = make_all_figures(qwen, tmp_path / "out", families=["qwen2.5", "tiny"])
    assert written == figure_paths(tmp_path / "out", ["qwen2.5", "tiny"])
    assert set(written) == set(FIGURES)
    for paths in written.values():
        assert_written(paths[:2])  # qwen2.5's
        assert_written(paths[2:])  # tiny's placeholder
    assert legends["attack_scaling"] == ["494M", "1.5B"]


def test_seeds_are_summarised_by_median_and_range_or_mean_and_interval():
    import numpy as np

    from robustness_scaling.figures.selection import seed_interval

    values = np.array([0.1, 0.2, 0.6])
    assert seed_interval(values, "median") == pytest.approx((0.2, 0.1, 0.6))
    mean, low, high = seed_interval(values, "mean")
    assert mean == pytest.approx(0.3) and 0.1 <= low < mean < high <= 0.6
    assert seed_interval(values, "mean") == (mean, low, high)  # a fixed resampling seed
    assert seed_interval(np.array([0.4]), "mean") == (0.4, 0.4, 0.4)


def test_make_all_figures_validates_the_table(table, tmp_path):
    with pytest.raises(TableError, match="missing column"):
        make_all_figures(table.drop(columns=["n_val"]), tmp_path)
    assert not list(tmp_path.iterdir())


def test_the_same_table_gives_the_same_bytes(table, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # as if drawn a day apart
    first = FIGURES["slopes_vs_size"](table, tmp_path / "first", None)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    second = FIGURES["slopes_vs_size"](table, tmp_path / "second", None)
    for a, b in zip(sorted(first), sorted(second), strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_stems_with_dots_keep_them(table, tmp_path):
    paths = FIGURES["slopes_vs_size"](table, tmp_path / "pythia-1.4b", None)
    assert sorted(p.name for p in paths) == ["pythia-1.4b.pdf", "pythia-1.4b.png"]


@pytest.mark.parametrize(
    ("n_params", "label"),
    [
        (11_536, "12k"),
        (859_136, "859k"),
        (7_629_056, "7.6M"),
        (44_672_000, "45M"),
        (123_691_008, "124M"),
        (1_311_629_312, "1.3B"),
        (1_414_000_000, "1.4B"),
        (2_000_000_000, "2B"),
        (11_586_560_000, "12B"),
        (999, "999"),
    ],
)
def test_size_labels_are_human(n_params, label):
    assert size_label(n_params) == label


def test_iteration_lookup_follows_the_paper():
    options = FigureOptions()
    assert options.size_iteration("spam", "gcg") == 10
    assert options.size_iteration("word_length", "gcg") == 2
    assert options.size_iteration("word_length", "gcg_infix90") == 2  # the base attack's
    assert options.size_iteration("spam", "random_token") == 1200
    assert options.size_iteration("spam", "unknown") is None  # the curve's last iteration
    assert options.defense_iteration("spam", "gcg") == 128
    assert options.defense_iteration("harmless", "beast") == 25
    assert PAPER_SIZE_ITERATIONS["gcg"] == 10


def test_figures_of_finetuned_models_never_splice_two_evaluations():
    """A model evaluated by the finetuned study (10 iterations, n_val 200) and as round 0 of an
    adversarial chain (128 iterations, n_val 500): the figures use the first evaluation whole,
    never its iterations 0-10 joined to the chain's 11-128; the chain's when it is alone."""
    import pandas as pd

    from robustness_scaling.figures.selection import finetuned

    study = synthetic_table(
        sizes=SMALL, seeds=(0,), rounds=0, attacks={"gcg": ("suffix", 10, 262.0)}
    )
    chain = synthetic_table(
        sizes=SMALL, seeds=(0,), rounds=1, attacks={"gcg": ("suffix", 128, 262.0)}, n_val=500
    )
    both = pd.concat([study, chain[chain["round"] == 0]], ignore_index=True)
    rows = finetuned(both)
    assert (rows["training_attack"] == "").all() and (rows["n_val"] == 200).all()
    assert rows["iteration"].max() == 10 and len(rows) == len(study)
    alone = finetuned(chain)
    assert (alone["n_val"] == 500).all() and alone["iteration"].max() == 128


def test_figure_options_of_the_paper_configs_are_the_papers():
    import yaml

    from conftest import REPO, SCHEMA
    from robustness_scaling.config import validate_config

    for name in ("paper-pythia", "paper-qwen"):
        config = validate_config(yaml.safe_load((REPO / f"config/{name}.yaml").read_text()), SCHEMA)
        options = FigureOptions.from_config(config["figures"])
        for task in ("spam", "imdb", "password_match"):
            assert (
                options.size_iteration(task, "gcg") == options.size_iteration(task, "beast") == 10
            )
        for task in ("word_length", "helpful", "harmless"):
            assert options.size_iteration(task, "gcg") == options.size_iteration(task, "beast") == 2
        assert options.defense_iteration("spam", "gcg") == 128
        assert options.defense_iteration("harmless", "beast") == 25
        assert options.defense_iteration("spam", "gcg_infix90") == 128
    assert options.size_iteration("strongreject", "gcg") == 128
    pythia = validate_config(
        yaml.safe_load((REPO / "config/paper-pythia.yaml").read_text()), SCHEMA
    )
    assert (
        FigureOptions.from_config(pythia["figures"]).size_iteration("spam", "random_token") == 1200
    )


def test_a_configs_figure_iterations_are_merged_over_the_papers():
    options = FigureOptions.from_config({"size_iterations": {"gcg": 5}})
    assert options.size_iteration("spam", "gcg") == 5
    assert options.size_iteration("word_length", "gcg") == 2  # the paper's, kept
    assert options.size_iteration("spam", "random_token") == 1200
    assert options.size_iteration("spam", "random_token_infix90") == 1200  # its base method
    assert FigureOptions.from_config({}).defense_iteration("spam", "beast") == 25


def test_no_curve_is_dropped_for_lacking_the_asked_iteration(table, tmp_path, monkeypatch):
    """A curve recorded only from iteration 8 on, asked @2, is drawn at @8; one that stops at
    @4, asked @10, at @4; the figure's caption lists both groups."""
    from robustness_scaling.figures.robustness_vs_size import plot_robustness_vs_size
    from robustness_scaling.figures.selection import at_iteration, drawn_elsewhere, finetuned

    rows = finetuned(table)
    late = (rows["size"] == "14m") & (rows["attack"] == "gcg")
    short = (rows["size"] == "410m") & (rows["attack"] == "gcg")
    rows = rows[~(late & (rows["iteration"] < 8)) & ~(short & (rows["iteration"] > 4))]
    chosen = at_iteration(rows, lambda task, attack: 10 if attack == "gcg" else 2)
    curves = rows.drop_duplicates(["size", "seed", "attack"])
    assert len(chosen) == len(curves)  # one row per curve, none dropped
    by_size = chosen[chosen["attack"] == "gcg"].groupby("size")["iteration"].first()
    assert by_size["410m"] == 4 and by_size["1.4b"] == 10
    chosen_at_2 = at_iteration(rows, lambda task, attack: 2)
    assert set(chosen_at_2[chosen_at_2["size"] == "14m"]["iteration"]) == {2, 8}
    lines = drawn_elsewhere(chosen) + drawn_elsewhere(chosen_at_2)
    assert any(
        "2 curves at @4, their last iteration: they stop short of the asked @10" in line
        for line in lines
    )
    assert any(
        "2 curves at @8, their first iteration: none is recorded at or before the asked @2" in line
        for line in lines
    )

    captions = []
    monkeypatch.setattr(style, "caption", lambda fig, got: captions.append(list(got)))
    plot_robustness_vs_size(rows, tmp_path / "size", FigureOptions(size_iterations={"gcg": 2}))
    assert any("at @8" in line for line in captions[0])


def test_the_log_says_which_iterations_each_figure_reads(table):
    """The paper config's figure options read adversarial training @128; the default study's
    config reads it @10 (a table drawn with the wrong study's options shows here)."""
    import yaml

    from conftest import REPO
    from robustness_scaling.figures import iterations_read

    paper = yaml.safe_load((REPO / "config/paper-pythia.yaml").read_text())["figures"]
    default = yaml.safe_load((REPO / "config.yaml").read_text())["figures"]
    reads = iterations_read(table, FigureOptions.from_config(paper))
    assert set(reads) == set(FIGURES)
    assert "gcg @128" in reads["adversarial_training"]
    assert "gcg @10" in reads["robustness_vs_size"]
    assert (
        "gcg @10"
        in iterations_read(table, FigureOptions.from_config(default))["adversarial_training"]
    )


def test_panel_titles_name_the_attack_position():
    """PasswordMatch's chunk GCG and another task's suffix GCG share the name `gcg`."""
    assert style.attack_label("gcg", "suffix") == "gcg (suffix)"
    assert style.attack_label("gcg", "chunk") == "gcg (chunk)"
    assert style.attack_label("gcg_infix90", "infix90") == "gcg_infix90"


def test_narrow_axes_still_read_in_percentages_and_several_ticks():
    """A trained model's ASR between 2% and 4% on a logit axis is labelled in percentages, not
    raw logits; a log axis under two decades gets labels at 2× and 5× beside its power of ten."""
    import matplotlib.pyplot as plt
    import numpy as np

    from robustness_scaling.analysis.metrics import logit10

    fig, (logit_ax, log_ax) = plt.subplots(1, 2)
    logit_ax.plot([0, 1], logit10(np.array([0.02, 0.04])))
    style.logit_axis(logit_ax)
    log_ax.plot([3e-4, 2e-3], [1, 2])
    style.log_axis(log_ax, "x")
    fig.canvas.draw()
    low, high = logit_ax.get_ylim()
    shown = [
        t
        for t, y in zip(logit_ax.get_yticklabels(), logit_ax.get_yticks(), strict=True)
        if low <= y <= high
    ]
    assert len(shown) >= 2 and all(t.get_text().endswith("%") for t in shown)
    left, right = log_ax.get_xlim()
    labelled = [
        t
        for t, x in zip(log_ax.get_xticklabels(), log_ax.get_xticks(), strict=True)
        if left <= x <= right and t.get_text()
    ]
    assert len(labelled) >= 2
    plt.close(fig)


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of drawn text boxes of ``fig`` that intersect, measured by the renderer: titles,
    labels, tick labels (those inside the view limits: matplotlib keeps the others visible but
    does not draw them), legends, annotations."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    undrawn = set()
    for ax in fig.axes:
        for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            low, high = sorted(limits)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - 1e-12 * abs(low) <= tick.get_loc() <= high + 1e-12 * abs(high):
                    undrawn.update({id(tick.label1), id(tick.label2)})
    texts = [
        (t.get_text(), t.get_window_extent(renderer))
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and id(t) not in undrawn
    ]
    return [
        (a, b)
        for i, (a, box_a) in enumerate(texts)
        for b, box_b in texts[i + 1 :]
        if box_a.overlaps(box_b)
    ]


def test_no_text_overlaps_and_no_panel_is_empty_in_any_figure(table, tmp_path, monkeypatch):
    """Every figure of a two-family, two-task table, one family drawn with a reference table
    dashed beside it, checked as it is saved (after titles are fitted and crowded tick labels
    thinned, as ``save_figure`` does first): no two text boxes intersect, and every panel has
    something drawn on it."""
    from matplotlib.collections import Collection
    from matplotlib.lines import Line2D

    overlaps, empty = {}, {}
    save = style.save_figure

    def checked(fig, stem, formats=style.FORMATS):
        style.fit_titles(fig)
        style.thin_tick_labels(fig)
        name = "/".join(Path(stem).parts[-2:])
        overlaps[name] = overlapping_texts(fig)
        empty[name] = [
            ax.get_title()
            for ax in fig.axes
            if not any(isinstance(a, Line2D | Collection) for a in ax.get_children())
        ]
        return save(fig, stem, ("png",))

    monkeypatch.setattr(style, "save_figure", checked)
    tasks = ("imdb", "password_match")
    pythia = synthetic_table(
        sizes=SMALL, tasks=tasks, seeds=(0, 1), rounds=3, attacks=SMALL_ATTACKS
    )
    qwen = synthetic_table(
        sizes=QWEN, family="qwen2.5", tasks=tasks[:1], seeds=(0, 1), rounds=2, attacks=GCG
    )
    reference = synthetic_table(sizes=SMALL, tasks=tasks, seeds=(0, 1), rounds=3, random_state=3)
    make_all_figures(pd.concat([pythia, qwen], ignore_index=True), tmp_path, reference=reference)
    assert set(overlaps) == {f"{f}/{name}" for f in ("pythia", "qwen2.5") for name in FIGURES}
    assert {name: pairs for name, pairs in overlaps.items() if pairs} == {}
    drawn = {name: titles for name, titles in empty.items() if titles}
    assert set(drawn) == {"qwen2.5/transfer"}  # qwen2.5 has no transfer rows: one placeholder
