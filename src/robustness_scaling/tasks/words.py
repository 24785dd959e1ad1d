"""The English word list behind PasswordMatch and WordLength.

The paper's own list (25,487 mixed-case words) is not published as a package, so we use the
``web2`` list (Webster's Second International, 235,970 mixed-case words) shipped by the PyPI
package ``english-words`` 2.0.2, keeping alphabetic entries, sorted so the draw is reproducible.
"""

from __future__ import annotations

from functools import cache

WORDLIST_PACKAGE = "english-words==2.0.2"
WORDLIST_NAME = "web2"


@cache
def english_words() -> tuple[str, ...]:
    """All alphabetic words of the pinned list, sorted (mixed case kept, as in the paper)."""
    from english_words import get_english_words_set

    return tuple(sorted(get_english_words_set([WORDLIST_NAME], lower=False, alpha=True)))
