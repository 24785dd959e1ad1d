"""Are two runs of the smoke study the same? For a refactor that must not change results.

    python benchmarks/smoke_identity/compare.py RUN_A RUN_B

RUN_A and RUN_B are workflow folders in which `snakemake --cores 2 --configfile
config/smoke.yaml` ran (e.g. two checkouts' copies). Every file under `results/` is compared
byte for byte, except Snakemake's benchmark records (timings). Attack states (`*.state.pt`)
hold a fingerprint of the attack's options (their repr, class name included) and ladder keys
hash the job's settings and code, so a refactor that renames a class or moves a module changes
them: states are compared field by field without the fingerprint, and keys are listed apart.
Exits 1 if anything else differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch


def _files(results: Path) -> set[Path]:
    return {
        p.relative_to(results)
        for p in results.rglob("*")
        if p.is_file() and p.relative_to(results).parts[0] != "benchmarks"
    }


def _same_state(a: Path, b: Path) -> bool:
    x, y = (torch.load(p, weights_only=True) for p in (a, b))
    if x is None or y is None:
        return x is y
    if x.keys() != y.keys():
        return False
    for key in x.keys() - {"fingerprint"}:
        u, v = x[key], y[key]
        if isinstance(u, torch.Tensor):
            same = torch.equal(u, v)
        elif isinstance(u, list) and u and isinstance(u[0], torch.Tensor):
            same = len(u) == len(v) and all(torch.equal(s, t) for s, t in zip(u, v, strict=True))
        elif isinstance(u, dict):
            same = u.keys() == v.keys() and all(
                torch.equal(u[k], v[k]) if isinstance(u[k], torch.Tensor) else u[k] == v[k]
                for k in u
            )
        else:
            same = u == v
        if not same:
            return False
    return True


def main(a: Path, b: Path) -> int:
    results_a, results_b = a / "results", b / "results"
    files_a, files_b = _files(results_a), _files(results_b)
    if files_a != files_b:
        print("different files:", sorted(map(str, files_a ^ files_b)))
        return 1
    bytes_same, states_same, keys, other = 0, 0, [], []
    for name in sorted(files_a):
        left, right = results_a / name, results_b / name
        if left.read_bytes() == right.read_bytes():
            bytes_same += 1
        elif name.name.endswith(".state.pt") and _same_state(left, right):
            states_same += 1
        elif name.name == "key" and name.parts[0] == ".ladder":
            keys.append(name)
        else:
            other.append(name)
    print(
        f"{len(files_a)} files: {bytes_same} byte-identical, {states_same} attack states equal "
        f"but for their fingerprint, {len(keys)} ladder keys differ, {len(other)} others differ"
    )
    for name in other:
        print("differs:", name)
    return 1 if other else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
