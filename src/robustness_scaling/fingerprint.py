"""Fingerprints of the library code a rule runs, for Snakemake's params-based rerun trigger.

Snakemake's code trigger sees a rule's script, not the modules the script imports. A rule
therefore declares ``params: code=code_fingerprint("robustness_scaling.jobs.finetune")``: a
hash of that module and every package module it imports, transitively. Editing attack code
changes no fingerprint of the training rules, so it never retrains a model.

What is hashed is each module's syntax tree without its docstrings (string statements) and
comments, so an edit that changes what the code says but not what it does reruns nothing.
Imports under ``if TYPE_CHECKING:`` never run and are not followed. The attack methods and the
generation path are imported by name (:mod:`robustness_scaling.by_name`), so they are in no
closure: a rule adds the ones its job runs, and a BEAST edit reruns only BEAST's jobs.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

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


class _WithoutDocstrings(ast.NodeTransformer):
    """Drops string statements: docstrings of modules, classes, functions and attributes."""

    def visit_Expr(self, node: ast.Expr) -> ast.Expr | None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return None
        return node


def _code(path: Path) -> str:
    """The module's syntax tree without docstrings: comments, blank lines and line breaks are
    not in a syntax tree at all."""
    return _code_of(path.read_text())


@cache
def _code_of(source: str) -> str:
    """Keyed by the source text, not the path: planning fingerprints a dozen rules whose
    closures share most modules, and parsing each module once per closure was most of a dry
    run's time; an edited file is parsed afresh."""
    return ast.dump(_WithoutDocstrings().visit(ast.parse(source)))


class _AtRuntime(ast.NodeTransformer):
    """Drops ``if TYPE_CHECKING:`` blocks: what they import is never imported when code runs."""

    def visit_If(self, node: ast.If) -> Any:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name == "TYPE_CHECKING":
            return node.orelse
        return self.generic_visit(node)


@cache
def _package_imports(module: str, source: str) -> frozenset[str]:
    """Package modules imported by ``module`` (whose text is ``source``) when it runs (absolute
    and relative imports)."""
    found: set[str] = set()
    for node in ast.walk(_AtRuntime().visit(ast.parse(source))):
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
    return frozenset(found)


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
    """A short hash of the code of ``modules`` and everything of ours they import."""
    digest = hashlib.sha256()
    names = sorted({name for module in modules for name in module_closure(module)})
    for name in names:
        digest.update(name.encode())
        digest.update(_code(_source_file(name)).encode())
    return digest.hexdigest()[:16]
