"""Loading, saving and running victims, from any hub name or local directory.

Classifiers load through ``AutoModelForSequenceClassification`` with a fresh 2-way ``score``
head that reads the last non-pad token, pad = eos and right padding, as in the paper; a
generation task's victims and BEAST's sampler load as causal LMs. A local source that does not
exist is named in the error (:class:`ModelSourceError`), not taken for a hub name. A saved model
directory (:func:`save_model_dir`) holds safetensors weights, the tokenizer and
``metrics.json`` with the result's provenance, and appears atomically. :func:`pad_batch` and
:func:`predict_labels` are the batching the training and evaluation code share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from robustness_scaling.atomic import atomic_path, read_json, write_json
from robustness_scaling.models.checks import ModelSourceError, check_weights
from robustness_scaling.runtime import provenance


def _check_local(source: str | Path) -> None:
    """A source that is meant as a local path must exist: say so, not a hub-name error."""
    text = str(source)
    looks_local = Path(text).is_absolute() or text.startswith((".", "~")) or text.count("/") > 1
    if looks_local and not Path(text).expanduser().is_dir():
        raise ModelSourceError(f"model directory {text!r} does not exist")
    if Path(text).expanduser().is_dir():
        check_weights(Path(text).expanduser())


def resolve_source(source: str | Path) -> str:
    """Where a model really is: a round-0 directory of a victim evaluated as it comes (no
    finetuning) holds only ``metrics.json`` naming its source; anything else is itself."""
    path = Path(source)
    metrics = path / "metrics.json"
    if path.is_dir() and not (path / "config.json").exists() and metrics.exists():
        named = read_json(metrics).get("model_source")
        if named:
            return str(named)
    return str(source)


def load_tokenizer(source: str | Path) -> Any:
    """The tokenizer at ``source`` with pad = eos and right padding."""
    from transformers import AutoTokenizer

    source = resolve_source(source)
    _check_local(source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source))
    except Exception as error:
        raise ModelSourceError(f"cannot load a tokenizer from {str(source)!r}: {error}") from error
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def load_classifier(
    source: str | Path, pad_token_id: int, dtype: torch.dtype, device: torch.device
) -> torch.nn.Module:
    """A two-class sequence classifier from a hub name or a local directory."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    source = resolve_source(source)
    _check_local(source)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialized score head" warning is expected
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(source), num_labels=2, dtype=dtype, pad_token_id=pad_token_id
        )
    except Exception as error:
        raise ModelSourceError(f"cannot load a classifier from {str(source)!r}: {error}") from error
    finally:
        hf_logging.set_verbosity(verbosity)
    model.config.pad_token_id = pad_token_id
    return model.to(device)


def load_causal_lm(source: str | Path, dtype: torch.dtype, device: torch.device) -> torch.nn.Module:
    """A causal LM in eval mode (BEAST's proposal model), from a hub name or a local directory."""
    from transformers import AutoModelForCausalLM

    source = resolve_source(source)
    _check_local(source)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(source), dtype=dtype)
    except Exception as error:
        raise ModelSourceError(f"cannot load a causal LM from {str(source)!r}: {error}") from error
    return model.to(device).eval()


def save_model_dir(
    out_dir: str | Path,
    model: torch.nn.Module,
    tokenizer: Any,
    metrics: Mapping[str, Any],
    extra: Callable[[Path], None] | None = None,
    made_by: Mapping[str, Any] | None = None,
) -> None:
    """Write a model directory atomically: safetensors weights, tokenizer, ``metrics.json`` (with
    the ``provenance`` of the job that made the model: ``made_by``, else ``model``'s own), and
    whatever ``extra`` writes into the folder. It appears complete or not at all."""
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        made_by = provenance(model) if made_by is None else made_by
        write_json(tmp / "metrics.json", {**metrics, "provenance": dict(made_by)})
        if extra is not None:
            extra(tmp)


def pad_batch(
    sequences: list[list[int]], pad_token_id: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """Right-pad token id lists into ``input_ids`` and ``attention_mask`` tensors."""
    width = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}


@torch.no_grad()
def predict_labels(
    model: torch.nn.Module,
    sequences: list[list[int]],
    pad_token_id: int,
    batch_size: int,
) -> torch.Tensor:
    """Predicted class of each tokenized example, batched; sorted by length to waste no padding."""
    device = next(model.parameters()).device
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    predictions = torch.empty(len(sequences), dtype=torch.long)
    model.eval()
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch = pad_batch([sequences[i] for i in chunk], pad_token_id, device)
        predictions[chunk] = model(**batch).logits.argmax(-1).cpu()
    return predictions
