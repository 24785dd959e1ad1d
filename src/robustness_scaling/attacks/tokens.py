"""Attack text and the tokens the victim reads: decoding, whole-prompt encoding, the GCG check.

The victim never sees an attack's token ids: it reads ``before + attack_text + after``, tokenized
whole (docs/method.md, "Attacks"). Decoding can lose information (a partial UTF-8 byte token
becomes "\ufffd") and re-encoding can merge tokens across the slot's edges, so every attack
scores, records and trains on the text. These helpers do the tokenizer work in one batched call,
through the Rust backend where that gives the same ids and text as transformers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import Tensor
from transformers import PreTrainedTokenizerBase, TokenizersBackend
from transformers.tokenization_utils_base import PaddingStrategy, TruncationStrategy


def _rust_backend(tokenizer: PreTrainedTokenizerBase) -> Tokenizer | None:
    """The Rust tokenizer behind ``tokenizer`` when calling it directly gives the same ids and text.

    transformers turns each of GCG's ~10^4 encodings per iteration into a Python dict, which costs
    more than the encoding itself; the backend's own batch calls skip that. Tokenizer classes that
    add Python steps around the backend (they override ``_encode_plus`` or ``_decode``) keep the
    transformers path.
    """
    cls = type(tokenizer)
    if not isinstance(tokenizer, TokenizersBackend) or (
        cls._encode_plus is not TokenizersBackend._encode_plus
        or cls._decode is not TokenizersBackend._decode
    ):
        return None
    return tokenizer.backend_tokenizer


def decode(tokenizer: PreTrainedTokenizerBase, ids: Sequence[Sequence[int]] | Tensor) -> list[str]:
    """Batch decode exactly as the attack text is inserted: nothing skipped or cleaned up."""
    rows = ids.tolist() if isinstance(ids, Tensor) else [list(row) for row in ids]
    backend = _rust_backend(tokenizer)
    if backend is not None:
        return backend.decode_batch(rows, skip_special_tokens=False)
    return tokenizer.batch_decode(
        rows, skip_special_tokens=False, clean_up_tokenization_spaces=False
    )


def encode_prompts(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str]) -> list[list[int]]:
    """Token ids of whole prompts, as the victim's clean prompt is encoded (special tokens
    added, no padding or truncation), in one batched call.

    The backend is first set as transformers sets it for an unpadded call, since an earlier padded
    or truncating call leaves its settings behind.
    """
    if not prompts:
        return []
    backend = _rust_backend(tokenizer)
    if backend is None:
        return tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    tokenizer.set_truncation_and_padding(
        padding_strategy=PaddingStrategy.DO_NOT_PAD,
        truncation_strategy=TruncationStrategy.DO_NOT_TRUNCATE,
        max_length=None,
        stride=0,
        pad_to_multiple_of=None,
        padding_side=None,
    )
    backend.encode_special_tokens = tokenizer.split_special_tokens
    encodings = backend.encode_batch(list(prompts), add_special_tokens=True)
    return [encoding.ids for encoding in encodings]


def keeps_its_tokens(
    tokenizer: PreTrainedTokenizerBase,
    context: Sequence[tuple[str, str]],
    around_ids: Sequence[tuple[list[int], list[int]]],
    texts: Sequence[str],
    ids: Tensor,
) -> np.ndarray:
    """Which rows read as ``before_ids + ids[b] + after_ids`` when ``before + texts[b] + after``
    is tokenized whole: GCG's retokenization check, on the prompt rather than the attack alone.

    Row ``b`` puts ``texts[b]`` (the decoding of ``ids[b]``) into ``context[b]`` = (before,
    after), whose own token ids are ``around_ids[b]``. A row fails when decoding loses
    information, when the text re-encodes to other tokens, or when its first or last token merges
    with the text beside the slot.
    """
    prompts = [before + t + after for (before, after), t in zip(context, texts, strict=True)]
    got = encode_prompts(tokenizer, prompts)
    rows, n = ids.tolist(), ids.shape[1]
    keep = np.zeros(len(rows), dtype=bool)
    for b, (tokens, row, (before, after)) in enumerate(zip(got, rows, around_ids, strict=True)):
        cut = len(before)
        keep[b] = (
            len(tokens) == cut + n + len(after)
            and tokens[cut : cut + n] == row
            and tokens[:cut] == before
            and tokens[cut + n :] == after
        )
    return keep


def allowed_tokens(
    tokenizer: PreTrainedTokenizerBase, vocab_rows: int, with_added: bool = True
) -> Tensor:
    """Bool mask over embedding rows: the ordinary tokens an attack may place.

    Special tokens are excluded, and so are embedding rows past the tokenizer (padding rows of
    the matrix, which are no token at all). ``with_added`` keeps the tokenizer's added
    non-special tokens (Pythia's runs of spaces, ids 50254–50276), which GCG's gradient ranking
    may pick as the paper's did; RandomToken draws from ``[0, tokenizer.vocab_size)`` only, as
    the paper's does (docs/method.md, "Attacks").
    """
    limit = len(tokenizer) if with_added else tokenizer.vocab_size
    mask = torch.zeros(vocab_rows, dtype=torch.bool)
    mask[: min(limit, vocab_rows)] = True
    special = [i for i in tokenizer.all_special_ids if i < vocab_rows]
    mask[special] = False
    return mask
