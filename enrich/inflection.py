"""Simple inflections of watchlist terms (plural, feminine, German and Dutch adjective endings), so a list need not
spell every form, in the seven languages the shipped lists are written in.

Rules work on folded words (no accents) and only add forms; a nonsense form (`gouroue`) costs nothing
because no post contains it. A term written with a leading `=` gets no inflection at all.
"""

from __future__ import annotations

from itertools import product

FUNCTION_WORDS = frozenset(
    """a au aux d de des du en et l la le les ou par pour sur un une the of and or to in on for by with an
    der die das dem den des ein eine einen einem einer und oder von zu im am mit fur auf
    el los las lo y o del al por para con un una unos unas
    il lo gli i della dello delle dei degli di da e con per nel nella
    o os as do da dos das e ou no na nos nas um uma com por para
    het een van voor met op en of aan bij""".split()
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


def spanish_forms(word: str) -> set[str]:
    forms = {word}
    if word.endswith("o"):
        forms |= {word[:-1] + "a", word + "s", word[:-1] + "as"}
    elif word.endswith(("a", "e", "i", "u")):
        forms.add(word + "s")
    elif word.endswith("z"):
        forms.add(word[:-1] + "ces")
    elif word.endswith("s"):
        pass
    else:
        forms |= {word + "es", word + "a", word + "as"} if word.endswith(("or", "on", "in", "an")) else {word + "es"}
    return forms


def italian_forms(word: str) -> set[str]:
    if word.endswith(("co", "go")):
        return {word, word[:-1] + "a", word[:-1] + "hi", word[:-1] + "i", word[:-1] + "he"}
    if word.endswith(("ca", "ga")):
        return {word, word[:-1] + "he"}
    if word.endswith("o"):
        return {word, word[:-1] + "a", word[:-1] + "i", word[:-1] + "e"}
    if word.endswith("a"):
        return {word, word[:-1] + "e", word[:-1] + "i"}
    if word.endswith("e"):
        return {word, word[:-1] + "i"}
    return {word}


def portuguese_forms(word: str) -> set[str]:
    if word.endswith("ao"):
        return {word, word[:-2] + "oes", word[:-2] + "aes", word + "s"}
    if word.endswith("o"):
        return {word, word[:-1] + "a", word + "s", word[:-1] + "as"}
    if word.endswith("m"):
        return {word, word[:-1] + "ns"}
    if word.endswith("l"):
        return {word, word[:-1] + "is"}
    if word.endswith(("r", "z")):
        return {word, word + "es", word + "a", word + "as"}
    if word.endswith("s"):
        return {word}
    return {word, word + "s"}


def german_forms(word: str) -> set[str]:
    """Plurals and the adjective and case endings (`-e`, `-en`, `-er`, `-es`, `-em`, `-n`, `-s`); umlaut plurals
    (`Arzt` → `Ärzte`) are written as terms of their own."""
    if word.endswith("e"):
        return {word, word + "n", word + "r", word + "s", word + "m"}
    if word.endswith(("el", "er")):
        return {word, word + "n", word + "s"}
    if word.endswith("in"):
        return {word, word + "nen"}
    return {word, word + "e", word + "en", word + "er", word + "es", word + "em", word + "s", word + "n"}


def dutch_forms(word: str) -> set[str]:
    if word.endswith(("e", "el", "er", "em", "je")):
        return {word, word + "s", word + "n"}
    forms = {word, word + "en", word + "s", word + "e"}
    if len(word) > 2 and word[-1] not in "aeiouy" and word[-2] in "aeiou" and word[-3] not in "aeiou":
        forms |= {word + word[-1] + "en", word + word[-1] + "e"}  # a short vowel keeps its consonant doubled: prik, prikken
    return forms


_RULES = {"fr": french_forms, "en": english_forms, "es": spanish_forms, "it": italian_forms, "pt": portuguese_forms, "de": german_forms, "nl": dutch_forms}


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
