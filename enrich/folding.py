"""Words of a text, folded for matching: lower case, no accents, no ligatures, with their original spans.

Folding is done word by word, so a folded word may be longer or shorter than the original (`œ` → `oe`)
while every match still maps back to exact offsets in the text the analyst reads.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

WORD = re.compile(r"[^\W_][^\W_]*+(?:[\u0300-\u036f]++[^\W_]*+)*+")
"""Letters and digits (with combining accents); apostrophes, hyphens and `_` separate words. Runs of one
class with possessive quantifiers: a word never gives characters back, which spares the engine its
backtracking, and a run of letters is matched faster than an alternation letter by letter."""

_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ø": "o", "đ": "d", "ł": "l", "ı": "i", "ð": "d", "þ": "th"})


@lru_cache(maxsize=262_144)
def fold_word(word: str) -> str:
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char)).translate(_LIGATURES)


def fold(text: str) -> str:
    """The folded words of a text joined by single spaces (`L'Éveil  spirituel!` → `l eveil spirituel`)."""
    return " ".join(fold_word(word) for word in WORD.findall(text))


_CASE_CHANGE = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z])")


def camel_boundaries(word: str) -> list[int]:
    """Offsets where a hashtag changes case or between letters and digits (`GreatReset2024` → [5, 10])."""
    if word.isascii():
        return [match.start() for match in _CASE_CHANGE.finditer(word)]
    cuts = []
    for index in range(1, len(word)):
        before, after = word[index - 1], word[index]
        if before.isdigit() != after.isdigit() and before.isalnum() and after.isalnum():
            cuts.append(index)
        elif before.islower() and after.isupper():
            cuts.append(index)
        elif before.isupper() and after.isupper() and index + 1 < len(word) and word[index + 1].islower():
            cuts.append(index)
    return cuts
