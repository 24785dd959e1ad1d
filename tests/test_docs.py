"""The method the code cites is the project's own account of it, which every user has."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = "PAPER" + "_SPEC"  # the study's spec, which is not in the repository


def test_code_cites_sections_of_the_method_that_exist():
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    headings = set(re.findall(r"^## (.+)$", (REPO / "docs/method.md").read_text(), re.M))
    cited = {}
    for name in files:
        path = REPO / name
        if path.suffix not in {".py", ".smk", ".yaml", ".rst", ".md"} or not path.is_file():
            continue
        text = path.read_text()
        assert SPEC not in text, f"{name} cites a file users do not have"
        for section in re.findall(r'method\.md,? "([^"]+)"', text):
            cited.setdefault(section, name)
    assert cited, "no code cites docs/method.md"
    missing = {section: name for section, name in cited.items() if section not in headings}
    assert not missing, f"cited sections docs/method.md lacks: {missing}"


def test_the_code_map_names_every_module():
    """docs/code.md is how a newcomer finds a concept: it must not fall behind the package."""
    page = (REPO / "docs/code.md").read_text()
    package = REPO / "src/robustness_scaling"
    modules = {
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if path.name != "__init__.py"
    }
    listed = set(re.findall(r"`([a-z_/]+\.py)`", page))
    figure_types = {m for m in modules if m.startswith("figures/")} - listed  # "figures/*.py"
    missing = modules - listed - figure_types
    assert not missing, f"docs/code.md does not name {sorted(missing)}"
    assert listed <= modules, f"docs/code.md names modules that do not exist: {listed - modules}"
