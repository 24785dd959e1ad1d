"""Model families: hub families with the paper's published sizes, and the offline ``tiny`` family.

A family knows, for each size, where its weights come from and its pretraining compute
6·N_gen·D, so figures can put attack and defense compute on a fraction-of-pretraining axis
without loading any model. N_gen is the generative model's count: the classifier's count minus
the 2·d score head plus the unembedding matrix where it is not tied to the input embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

from robustness_scaling.flops import pretrain_flops


@dataclass(frozen=True)
class HubSize:
    """A published checkpoint: classifier parameter count, what it takes to derive N_gen, and
    the layer shapes a cost plan needs to size activations and key/value caches
    (:mod:`robustness_scaling.cost_plan`) without loading the model.

    ``kv_size`` is the width of each layer's keys (and values): ``hidden_size`` with full
    multi-head attention (Pythia), heads × head size with grouped-query attention (Qwen2.5).
    """

    classifier_params: int
    hidden_size: int
    vocab_size: int
    tied_embeddings: bool
    pretrain_tokens: int
    num_layers: int
    intermediate_size: int
    kv_size: int

    @property
    def generative_params(self) -> int:
        unembedding = 0 if self.tied_embeddings else self.vocab_size * self.hidden_size
        return self.classifier_params - 2 * self.hidden_size + unembedding

    @property
    def pretrain_flops(self) -> int:
        return pretrain_flops(self.generative_params, self.pretrain_tokens)


@dataclass(frozen=True)
class HubFamily:
    """A family of hub checkpoints; ``source`` is formatted with the size name.

    ``gated_mlp``: each MLP has a gate matrix besides its up and down projections (SwiGLU, as
    in Qwen2.5), which a training step keeps more activations for.
    """

    name: str
    source: str
    smallest_base_lm: str
    sizes: dict[str, HubSize]
    gated_mlp: bool


# The shapes are the checkpoints' published configs (config.json on the hub): each size's shapes
# reproduce its classifier parameter count exactly (tests/test_cost_plan.py).
PYTHIA_TOKENS = 299_892_736_000
_PYTHIA = {  # size: (classifier params, d_model, padded vocab, layers); MLP 4·d, full MHA
    "14m": (7_629_056, 128, 50_304, 6),
    "31m": (17_617_408, 256, 50_304, 6),
    "70m": (44_672_000, 512, 50_304, 6),
    "160m": (123_691_008, 768, 50_304, 12),
    "410m": (353_824_768, 1024, 50_304, 24),
    "1b": (908_763_136, 2048, 50_304, 16),
    "1.4b": (1_311_629_312, 2048, 50_304, 24),
    "2.8b": (2_646_435_840, 2560, 50_304, 32),
    "6.9b": (6_650_740_736, 4096, 50_432, 32),
    "12b": (11_586_560_000, 5120, 50_688, 36),
}
# size: (classifier params, d_model, vocab, tied, pretraining tokens, layers, MLP width,
# key/value width = key/value heads × head size)
_QWEN = {
    "0.5B": (494_034_560, 896, 151_936, True, 18_000_000_000_000, 24, 4864, 2 * 64),
    "1.5B": (1_543_717_376, 1536, 151_936, True, 10_500_000_000_000, 28, 8960, 2 * 128),
    "3B": (3_085_942_784, 2048, 151_936, True, 10_500_000_000_000, 36, 11008, 2 * 128),
    "7B": (7_070_626_304, 3584, 152_064, False, 10_500_000_000_000, 28, 18944, 4 * 128),
    "14B": (13_991_476_224, 5120, 152_064, False, 10_500_000_000_000, 48, 13824, 8 * 128),
}

HUB_FAMILIES: dict[str, HubFamily] = {
    "pythia": HubFamily(
        name="pythia",
        source="EleutherAI/pythia-{size}",
        smallest_base_lm="EleutherAI/pythia-14m",
        sizes={
            size: HubSize(params, d, vocab, False, PYTHIA_TOKENS, layers, 4 * d, d)
            for size, (params, d, vocab, layers) in _PYTHIA.items()
        },
        gated_mlp=False,
    ),
    "qwen2.5": HubFamily(
        name="qwen2.5",
        source="Qwen/Qwen2.5-{size}",
        smallest_base_lm="Qwen/Qwen2.5-0.5B",
        sizes={size: HubSize(*spec) for size, spec in _QWEN.items()},
        gated_mlp=True,
    ),
}
