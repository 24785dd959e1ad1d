"""Adversarial training as a chain of cached rounds (docs/method.md "Adversarial training").

Round 0 is the finetuned model. Round k is made from round k−1's directory by
:func:`~robustness_scaling.adversarial_training.round.adversarial_round`: attack fresh training
examples with the current model (:mod:`.examples`), add them all to the pool (:mod:`.pool`),
train one epoch on a mix of pool and clean examples. :mod:`.schedule` holds the pure functions
the workflow needs to lay out the chain: rounds per size, evaluated rounds and the
attack-strength ramp. This package's namespace holds only those light pieces, so the Snakefile
can plan rounds without importing torch.

Usage::

    settings = AdversarialTrainingSettings(ramp_start=8, ramp_end=64, ramp_rounds=n_rounds)
    for k in range(1, n_rounds + 1):
        adversarial_round(k, f"round{k - 1}", train, validation, f"round{k}",
                          settings, placement=task.placement, include_instructions=True,
                          seed=0, sampler=None, device=device, dtype=dtype, resume=None,
                          log=log)
"""

from robustness_scaling.adversarial_training.pool import (
    rank_weights,
    sample_training_set,
    training_mix,
)
from robustness_scaling.adversarial_training.schedule import (
    attack_iterations,
    evaluation_rounds,
    number_of_rounds,
    ramp_horizon,
)

__all__ = [
    "attack_iterations",
    "evaluation_rounds",
    "number_of_rounds",
    "ramp_horizon",
    "rank_weights",
    "sample_training_set",
    "training_mix",
]
