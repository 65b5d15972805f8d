"""Simple inflections of watchlist terms (plural, feminine), so a list need not spell every form.

Rules work on folded words (no accents) and only add forms; a nonsense form (`gouroue`) costs nothing
because no post contains it. A term written with a leading `=` gets no inflection at all.
"""

from __future__ import annotations

from itertools import product

FUNCTION_WORDS = frozenset(
    "a au aux d de des du en et l la le les ou par pour sur un une the of and or to in on for by with an".split()
)
"""Words left as they are inside a phrase (`théorie du complot` → `théories du complot`, not `complots du`)."""

_MAX_FORMS = 64


def french_plurals(word: str) -> set[str]:
    if word.endswith(("s", "x", "z")):
        return {word}
    if word.endswith("al"):
        return {word + "s", word[:-2] + "aux"}
    if word.endswith(("eau", "au", "eu")):
        return {word + "x", word + "s"}
    return {word + "s"}


def french_feminines(word: str) -> set[str]:
    if word.endswith("e"):
        return {word}
    for masculine, feminine in (("teur", "trice"), ("eur", "euse"), ("eux", "euse"), ("if", "ive"), ("en", "enne"), ("on", "onne"), ("el", "elle"), ("er", "ere"), ("et", "ette")):
        if word.endswith(masculine):
            return {word[: -len(masculine)] + feminine, word + "e"}
    return {word + "e"}


def french_forms(word: str) -> set[str]:
    feminines = french_feminines(word)
    forms = {word} | french_plurals(word) | feminines
    for feminine in feminines:
        forms |= french_plurals(feminine)
    return forms


def english_forms(word: str) -> set[str]:
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return {word, word + "es"}
    if len(word) > 2 and word.endswith("y") and word[-2] not in "aeiou":
        return {word, word[:-1] + "ies"}
    return {word, word + "s"}


_RULES = {"fr": french_forms, "en": english_forms}


def inflections(words: list[str], language: str) -> list[tuple[str, ...]]:
    """Every form of a folded term (a tuple of words): the term itself first, then its inflected forms."""
    rule = _RULES.get(language)
    if rule is None or not words:
        return [tuple(words)]
    choices = [sorted({word}) if word in FUNCTION_WORDS or word.isdigit() or len(word) < 3 else [word, *sorted(rule(word) - {word})] for word in words]
    forms: list[tuple[str, ...]] = []
    for form in product(*choices):
        forms.append(form)
        if len(forms) >= _MAX_FORMS:
            break
    return forms
