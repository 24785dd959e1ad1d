"""What a study costs before it runs: jobs, FLOPs, GPU-hours and peak memory per stage and
size, from its config alone. No model is loaded and no data is read, so a study can be sized
(and its GPU budget asked for) before anything is downloaded.

FLOPs follow docs/method.md "Compute" and the attacks' own ``flops`` records: forward 2·N·T,
training step 6·N·T. The grid is the workflow's (:mod:`robustness_scaling.grid`), so the plan
prices exactly the jobs ``snakemake`` plans. What a config cannot say is assumed, and
:func:`assumptions` lists every assumption a plan rests on; most make the plan an upper bound:

- tokens per prompt: PasswordMatch and WordLength from their generation (the mean prompt length
  in characters over generated examples); natural-text tasks from typical lengths
  (``NATURAL_CONTENT_CHARS``); both over ``CHARS_PER_TOKEN`` of the family's tokenizer.
  Padding is not counted. ``prompt_tokens`` overrides a task's estimate;
- every one of an attack's ``n_val`` examples is attacked (only those the model gets right
  are, which is unknown before it runs), at the largest budget of its ladder;
- GCG scores all its candidates (the retokenization filter drops some); BEAST's beams are full;
- an attack's memory is that of its starting ``batch_size`` (a pass that runs out of memory
  halves its batch);
- a generation task's judged answers run to ``max_new_tokens`` (no early end of text); an LLM
  judge's own passes, the clean iteration 0 and the clean-accuracy evaluations are not counted.

The modules, read in this order: :mod:`.tokens` (prompt lengths), :mod:`.models` (shapes and
precision), :mod:`.compute` (one job's FLOPs), :mod:`.memory` (one job's peak memory),
:mod:`.plan` (the study's grid priced), :mod:`.assumptions` and :mod:`.cli` (the command).

Usage: ``python -m robustness_scaling.cost_plan --configfile config/paper-pythia.yaml``.
"""

from robustness_scaling.cost_plan.assumptions import assumptions
from robustness_scaling.cost_plan.cli import format_plan, main
from robustness_scaling.cost_plan.plan import DEFAULT_FLOPS_PER_SECOND, GIB, cost_plan, totals

__all__ = [
    "DEFAULT_FLOPS_PER_SECOND",
    "GIB",
    "assumptions",
    "cost_plan",
    "format_plan",
    "main",
    "totals",
]
