"""Scaling trends in language-model robustness: tasks, models, training, attacks, metrics."""
