"""The literal strings a regular expression cannot match without: one of them occurs in every match.

Python's `re` jumps ahead only to a pattern's literal prefix; a watchlist pattern that opens with an alternation
(`(?:cured?|healed)\\s+...`) is tried at every position of every post, 5 to 15 µs each on an average post. Looking
for its required literals first (all patterns' literals in one Aho-Corasick pass) runs the regex only on the
posts that could match, as RE2's and codesearch's prefilters do.
"""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

Literals = frozenset[str]

MAX_CLASS = 4
"""A character class of at most this many plain characters (`[ée]`) multiplies the literals around it."""
MAX_ALTERNATIVES = 32
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT))
_ZERO_WIDTH = (sre.AT, sre.ASSERT, sre.ASSERT_NOT)


def required_literals(pattern: str, min_length: int = 2) -> Literals | None:
    """Strings of which every match contains one, each at least `min_length` long; None when the pattern has
    no such set (`\\w+`), or may ignore case (the text's case would then matter)."""
    parsed = sre_parse.parse(pattern)
    if parsed.state.flags & re.IGNORECASE:
        return None
    found = _sequence(list(parsed))
    return found if found and min(map(len, found)) >= min_length else None


def _better(best: Literals | None, candidate: Literals | None) -> Literals | None:
    """The more selective set: longest shortest literal, then fewest alternatives."""
    if not candidate or len(candidate) > MAX_ALTERNATIVES:
        return best
    if best is None:
        return candidate
    return max(best, candidate, key=lambda found: (min(map(len, found)), -len(found)))


def _sequence(items: list[tuple[Any, Any]]) -> Literals | None:
    """Every item of a sequence is in each match, so the best requirement of any one of them holds."""
    best: Literals | None = None
    run: set[str] = {""}
    for op, value in items:
        if op is sre.LITERAL:
            run = {prefix + chr(value) for prefix in run}
            continue
        characters = _small_class(value) if op is sre.IN else None
        if characters and len(run) * len(characters) <= MAX_ALTERNATIVES:
            run = {prefix + char for prefix in run for char in characters}
            continue
        best = _better(best, frozenset(run) if "" not in run else None)
        run = {""}
        if op in _ZERO_WIDTH:
            continue
        best = _better(best, _item(op, value))
    return _better(best, frozenset(run) if "" not in run else None)


def _item(op: Any, value: Any) -> Literals | None:
    if op is sre.SUBPATTERN:
        _, add_flags, _, body = value
        return None if add_flags & re.IGNORECASE else _sequence(list(body))
    if op is sre.BRANCH:
        branches = [_sequence(list(branch)) for branch in value[1]]
        if any(branch is None for branch in branches):
            return None
        return frozenset().union(*branches)  # type: ignore[arg-type]
    if op in _REPEATS:
        low, _, body = value
        return _sequence(list(body)) if low >= 1 else None
    if op is getattr(sre, "ATOMIC_GROUP", None):
        return _sequence(list(value))
    return None


def _small_class(members: list[tuple[Any, Any]]) -> list[str] | None:
    """The characters of a class made only of a few plain characters, else None."""
    if len(members) > MAX_CLASS or any(op is not sre.LITERAL for op, _ in members):
        return None
    return [chr(code) for _, code in members]
