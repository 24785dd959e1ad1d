"""A setting's default is the same whether a study's config or a Python caller leaves it out.

The schema fills a config's defaults at planning; the stage settings dataclasses hold the
defaults a library user gets. A test keeps each pair equal, so neither can drift alone.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from robustness_scaling.adversarial_training.settings import AdversarialTrainingSettings
from robustness_scaling.analysis.metrics import DEFAULT_TARGETS
from robustness_scaling.figures.options import FigureOptions
from robustness_scaling.training.finetune import FinetuneSettings
from robustness_scaling.training.pretrain import PretrainSettings

SCHEMA = yaml.safe_load(
    (Path(__file__).parents[1] / "workflow/schemas/config.schema.yaml").read_text()
)


def _section(*keys: str) -> dict[str, Any]:
    node = SCHEMA
    for key in keys:
        node = node["properties"][key]
    return node["properties"]


def _default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


@pytest.mark.parametrize(
    ("settings", "keys"),
    [
        (FinetuneSettings, ("finetune",)),
        (PretrainSettings, ("tiny", "pretrain")),
        (AdversarialTrainingSettings, ("adversarial_training",)),
    ],
)
def test_schema_defaults_equal_the_settings_defaults(settings, keys):
    section = _section(*keys)
    fields = {f.name: f for f in dataclasses.fields(settings)}
    missing = sorted(set(fields) - set(section))
    assert not missing, f"{settings.__name__} fields a config cannot set: {missing}"
    differ = {
        name: (section[name]["default"], _default(field))
        for name, field in fields.items()
        if "default" in section[name] and section[name]["default"] != _default(field)
    }
    assert not differ, f"schema vs {settings.__name__} defaults (schema, dataclass): {differ}"


def test_offense_targets_have_one_default():
    assert FigureOptions().offense_targets == DEFAULT_TARGETS
