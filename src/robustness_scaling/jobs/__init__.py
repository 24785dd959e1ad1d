"""The workflow's jobs: one module per rule, each a frozen settings object with a ``run``.

A job is built from its rule's ``params.job`` (the config values its results depend on) and its
files, then run with one resolved :class:`~robustness_scaling.runtime.Runtime`::

    from robustness_scaling.jobs.entry import build
    from robustness_scaling.jobs.finetune import Finetune
    from robustness_scaling.runtime import Runtime

    job = build(Finetune, {**params, "train": "train.jsonl", "validation": "val.jsonl",
                           "out": "round0"})
    job.run(Runtime.resolve(device="cpu", autocast="float32"), log="finetune.log")

which is what ``workflow/scripts/finetune.py`` does with Snakemake's params and files
(:func:`~robustness_scaling.jobs.entry.run_rule`). Each module imports only the library code
its job runs, so a rule's code fingerprint
(``code_fingerprint("robustness_scaling.jobs.finetune")``) changes only when that code does:
editing attack code never retrains a model.
"""
