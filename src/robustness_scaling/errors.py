"""The base of every error a user's input causes: a config, a data file, a model directory, a
results table that cannot be used as it is.

Its message names the culprit and says what is wrong and what is allowed, so a job that stops on
one writes that message to its log and nothing else (:func:`robustness_scaling.jobs.entry.
run_rule`): a traceback would only point into this library's or another library's code, where
the fix never is.
"""


class InputError(ValueError):
    """An input that cannot be used as it is; the message names it and what is wrong."""
