"""Entry points of the workflow's stages: one small module per rule family.

Each module imports only the library code its stage runs, so a rule's code fingerprint
(``code_fingerprint("robustness_scaling.stages.finetune_cell")``) changes only when that code
does: editing attack code never retrains a model.
"""
