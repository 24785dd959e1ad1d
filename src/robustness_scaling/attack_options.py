"""The attacks' options as plain dataclasses, importable without torch.

The config validator checks a study's attack options against these before any job starts (names,
types, and each field's ``minimum`` in its metadata), and must stay cheap to import: the
Snakefile loads it on every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AttackOptions:
    """Options every attack has.

    Attributes:
        seed: seeds every random draw, together with each example's id.
        batch_size: most sequences in one forward pass to start with: a pass that runs out of
            device memory halves it for the rest of the job (the log says so).
        use_kv_cache: reuse key/value states of prompt parts that do not change. ``False``
            recomputes every position: slower, same results up to float rounding.
    """

    seed: int = field(default=0, metadata={"minimum": 0})
    batch_size: int = field(default=512, metadata={"minimum": 1})
    use_kv_cache: bool = True


@dataclass(frozen=True)
class GCGOptions(AttackOptions):
    """GCG options; the defaults are the paper's.

    Attributes:
        n_attack_tokens: length of the adversarial suffix in tokens.
        initial_text: the suffix to start from. If it does not encode to exactly
            ``n_attack_tokens`` tokens that survive a decode/re-encode round trip, its tokens are
            cycled to that length and random positions get random tokens until they do.
        top_k: tokens kept per position from the gradient ranking.
        n_candidates: single-token swaps drawn per iteration and example.
    """

    n_attack_tokens: int = field(default=10, metadata={"minimum": 1})
    initial_text: str = "@&@&@&@&@&"
    top_k: int = field(default=256, metadata={"minimum": 1})
    n_candidates: int = field(default=128, metadata={"minimum": 1})


@dataclass(frozen=True)
class RandomTokenOptions(AttackOptions):
    """RandomToken options; the default is the paper's.

    Attributes:
        n_attack_tokens: random tokens drawn per iteration.
    """

    n_attack_tokens: int = field(default=10, metadata={"minimum": 1})


@dataclass(frozen=True)
class BEASTOptions(AttackOptions):
    """BEAST options; the defaults are the paper's runs (its config file said 15/15).

    Attributes:
        beam_width: beams kept after each iteration.
        branch_factor: tokens the sampler proposes per beam and iteration.
    """

    beam_width: int = field(default=7, metadata={"minimum": 1})
    branch_factor: int = field(default=7, metadata={"minimum": 1})


ATTACK_OPTIONS: dict[str, type[AttackOptions]] = {
    "gcg": GCGOptions,
    "random_token": RandomTokenOptions,
    "beast": BEASTOptions,
}
"""Attack method name (as in configs and paths) -> its options dataclass."""
