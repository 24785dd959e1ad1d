"""The conda environment file stays in step with pyproject.toml."""

from __future__ import annotations

import tomllib

import yaml

from conftest import REPO


def test_conda_env_pip_list_equals_the_package_dependencies():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    env = yaml.safe_load((REPO / "envs/robustness-scaling.yaml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert sorted(pip) == sorted(pyproject["project"]["dependencies"])
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python == "python" + pyproject["project"]["requires-python"]
