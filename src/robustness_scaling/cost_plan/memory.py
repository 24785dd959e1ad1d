"""Peak device memory of one job, in bytes: a training step, or an attack's scoring passes.
What a job holds is counted from the shapes (:mod:`.models`) and the tokens it reads
(:mod:`.tokens`), so a plan says which jobs fit a GPU, and which need a smaller batch, before
any runs."""

from __future__ import annotations

from robustness_scaling.attack_options import AttackOptions
from robustness_scaling.cost_plan.compute import attack_suffix_tokens
from robustness_scaling.cost_plan.models import Precision, Shape
from robustness_scaling.cost_plan.tokens import PromptSplit

OPTIMIZER_STATES = {"adamw": 2, "sgd": 0}
"""Full-size optimizer states per parameter (Adafactor's factored states are sized apart)."""

FLOAT32 = 4
"""Bytes of the values computed in float32 whatever the precision: softmaxes and losses."""


def adafactor_state(shape: Shape) -> int:
    """Values of Adafactor's factored second moments: one per row and per column of every
    matrix and one per bias and norm weight, about vocab + d + layers·(17·d + 3·f) for a
    GPT-NeoX or Qwen2.5 layer (an upper estimate; no first moment, as the paper ran it)."""
    return shape.vocab + shape.hidden + shape.layers * (17 * shape.hidden + 3 * shape.intermediate)


def layer_activations(shape: Shape) -> int:
    """Values one token holds in one layer: about 10·d plus 2·f (4·f with a gated MLP), for
    the layer's input and norm, queries, keys, values, attention output and projection and the
    MLP's projections, with attention scores not kept, as PyTorch's fused attention does. A
    backward pass keeps them for every layer; a pass without gradients frees a layer's when
    the next one runs."""
    return 10 * shape.hidden + (4 if shape.gated_mlp else 2) * shape.intermediate


def kv_bytes(shape: Shape, bytes_: Precision) -> int:
    """Bytes of one token's keys and values in every layer: 2 · layers · kv width."""
    return 2 * shape.layers * shape.kv_size * bytes_.activations


def training_memory(
    shape: Shape,
    n_params: int,
    optimizer: str,
    minibatch: int,
    tokens: int,
    bytes_: Precision,
    *,
    causal_lm: bool,
    gpus: int = 1,
) -> int:
    """Bytes of one training step on one GPU: weights, gradients and optimizer state in the
    weights' precision, plus the activations a backward pass keeps for ``minibatch`` rows of
    ``tokens`` in every layer (:func:`layer_activations`); a causal LM also keeps float32
    logits, their log-softmax and its gradient. Sharded over ``gpus`` (FSDP2), each GPU holds
    its share of the states and passes its share of each minibatch's rows, plus one whole
    layer while that layer runs (the largest one: the embedding, vocab·d)."""
    if optimizer == "adafactor":
        state = adafactor_state(shape)
    elif optimizer in OPTIMIZER_STATES:
        state = OPTIMIZER_STATES[optimizer] * n_params
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}; allowed: adafactor, adamw, sgd")
    rows = -(-minibatch // gpus)
    activations = rows * tokens * shape.layers * layer_activations(shape) * bytes_.activations
    logits = 3 * rows * tokens * shape.vocab * FLOAT32 if causal_lm else 0
    states = (2 * n_params + state) * bytes_.weights
    if gpus > 1:
        states = -(-states // gpus) + shape.vocab * shape.hidden * bytes_.weights
    return states + activations + logits


def scoring_pass(
    shape: Shape,
    bytes_: Precision,
    joined: int,
    shared: int,
    rows: int,
    query: int,
    target: int = 0,
) -> int:
    """Bytes a pass without gradients adds to what the attack holds, for ``rows`` rows of
    ``query`` tokens that attend to their example's ``shared`` cached tokens.

    Where the rows share two caches (GCG's prefix and current attack), ``Scorer._shared_pass``
    joins them for the ``joined`` examples the batch holds rows of: a copy of those examples'
    states while it runs (a prefix alone is used where it is: ``joined`` 0). Per row: one
    layer's activations of the query, one layer's
    float32 attention scores of every head over the shared tokens and the query (made and
    dropped layer by layer), and float32 logits and log-softmax of a causal LM's ``target``
    positions (a classifier's head reads one position: not counted).
    """
    per_row = (
        query * layer_activations(shape) * bytes_.activations
        + shape.heads * query * (shared + query) * FLOAT32
        + 2 * target * shape.vocab * FLOAT32
    )
    return joined * shared * kv_bytes(shape, bytes_) + rows * per_row


def attack_memory(
    method: str,
    options: AttackOptions,
    iterations: int,
    examples: int,
    split: PromptSplit,
    n_params: int,
    shape: Shape,
    bytes_: Precision,
    sampler: Shape | None = None,
) -> int:
    """Peak bytes of attacking ``examples`` examples for ``iterations`` iterations, at the
    scorer's starting ``options.batch_size``. A pass that runs out of memory halves its batch
    and retries, so this is a planning figure for the first pass, not a hard requirement; what
    is held all along does not shrink with the batch.

    Candidates do not copy their example's cached states: each row attends to its example's,
    kept once per example (attacks/shared_attention.py). So the attack holds, all along:

    - the victim's weights;
    - the prefix cache, the keys and values of every attacked example's text before the slot
      (``examples · before ·`` :func:`kv_bytes`): ``Scorer.layout`` makes it for all the
      examples at once;
    - GCG: its current attack's keys and values (``examples · attack tokens ·`` kv bytes) and
      the one-hot token gradients of every example (``examples · attack tokens · vocab``);
    - BEAST: its sampler's weights and prefix cache, and its proposals, float32 logits and
      log-softmax over the vocabulary for each of ``examples · beam_width`` beams.

    A scoring pass (:func:`scoring_pass`) of ``rows`` rows (``batch_size``, or fewer where there
    are fewer candidates: ``examples`` × GCG's candidates, RandomToken's draws or BEAST's beams
    × branches) adds, for GCG, a joined copy of its batch's examples' prefix and attack states,
    and per row its query's activations and attention scores. The query is what follows the
    cached part: the attack, the text after the slot and the target (GCG's from the first attack
    token, an upper bound: a swap at position p runs from p). BEAST's sampler passes (one row
    per beam, the beam's tokens as the query, over the sampler's prefix cache) alternate with
    the victim's.

    GCG's gradient pass runs with autograd on one row per example, ``rows`` = up to
    ``batch_size`` examples. Each row's query runs through every layer keeping its activations
    for the backward pass, as a training step does (with a causal LM's target logits, their
    log-softmax and gradient); its prefix comes from the cache, copied for the row and joined
    with the query's keys and values for the batch; the attack part that candidates reuse is
    copied out of it (counted as held), so the rest is freed with the batch. So the gradient
    pass adds ``rows · before`` kv bytes and ``rows`` rows of activations.

    The peak is what is held plus the larger pass. ``use_kv_cache: false`` caches nothing:
    every pass reads whole prompts. Not counted: the clean check's pass over whole prompts, and
    a re-tokenized prompt (RandomToken, BEAST) whose tokens do not start with the cached text
    before the slot, which runs whole, uncached.
    """
    if not options.use_kv_cache:  # every pass runs whole prompts, nothing is cached
        split = PromptSplit(0, split.before + split.after, split.target)
    kv, batch = kv_bytes(shape, bytes_), options.batch_size
    suffix = attack_suffix_tokens(method, options, iterations)
    query = suffix + split.after + split.target
    held = n_params * bytes_.weights + examples * split.before * kv
    if method == "gcg":
        n = options.n_attack_tokens
        candidates = min(options.n_candidates, n * min(options.top_k, shape.vocab))
        cached = n if options.use_kv_cache else 0
        held += examples * (cached * kv + n * shape.vocab * bytes_.activations)
        rows = min(batch, examples)
        per_row = shape.layers * query * layer_activations(shape) * bytes_.activations
        per_row += 3 * split.target * shape.vocab * FLOAT32
        gradient = rows * split.before * kv + rows * per_row
        rows = min(batch, examples * candidates)
        shared = split.before + cached
        joined = min(examples, rows) if cached else 0  # rows go by length: any example
        scoring = scoring_pass(shape, bytes_, joined, shared, rows, query, split.target)
        return held + max(gradient, scoring)
    if method == "random_token":
        rows = min(batch, examples * iterations)
        return held + scoring_pass(shape, bytes_, 0, split.before, rows, query, split.target)
    if sampler is None:
        raise ValueError("pricing BEAST needs its sampler's shape")
    beams = examples * options.beam_width
    held += sampler.generative_params * bytes_.weights
    held += examples * split.before * kv_bytes(sampler, bytes_)
    held += 2 * beams * sampler.vocab * FLOAT32
    rows = min(batch, beams * options.branch_factor)
    victim = scoring_pass(shape, bytes_, 0, split.before, rows, query, split.target)
    proposals = scoring_pass(sampler, bytes_, 0, split.before, min(batch, beams), suffix)
    return held + max(victim, proposals)
