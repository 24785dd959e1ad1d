"""Fingerprints of the library code a rule runs, for Snakemake's params-based rerun trigger.

Snakemake's code trigger sees a rule's script, not the modules the script imports. A rule
therefore declares ``params: code=code_fingerprint("robustness_scaling.finetune")``: a hash of
that module and every package module it imports, transitively. Editing attack code changes no
fingerprint of the training rules, so it never retrains a model.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = "robustness_scaling"
_ROOT = Path(__file__).resolve().parent


def _source_file(module: str) -> Path | None:
    """The file defining ``module`` (found without importing it), or None for a non-module name."""
    top, *parts = module.split(".")
    if top != PACKAGE:
        return None
    candidates = [_ROOT.joinpath(*parts, "__init__.py")]
    if parts:
        candidates.insert(0, _ROOT.joinpath(*parts[:-1], parts[-1] + ".py"))
    return next((path for path in candidates if path.is_file()), None)


def _package_imports(module: str, source: str) -> set[str]:
    """Package modules imported by ``module`` (absolute and relative imports)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.rsplit(".", node.level)[0]
                base = f"{parent}.{base}" if base else parent
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name.split(".")[0] == PACKAGE)
    return found


@cache
def module_closure(module: str) -> tuple[str, ...]:
    """``module`` and every package module it imports, transitively, sorted."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or (path := _source_file(name)) is None:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent __init__s run too
        todo.extend(_package_imports(name, path.read_text()))
    return tuple(sorted(seen))


def code_fingerprint(*modules: str) -> str:
    """A short hash of the source of ``modules`` and everything of ours they import."""
    digest = hashlib.sha256()
    names = sorted({name for module in modules for name in module_closure(module)})
    for name in names:
        digest.update(name.encode())
        digest.update(_source_file(name).read_bytes())
    return digest.hexdigest()[:16]
