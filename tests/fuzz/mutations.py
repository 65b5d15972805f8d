"""Hypothesis strategies that spoil recorded responses the way strangers' servers and pages do: truncated bodies,
invalid UTF-8, slices dropped or repeated (HTML with broken nesting), and, inside JSON, keys dropped, values of the
wrong type, huge and empty fields, deep nesting."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

DEEP = 3000
"""Deeper than Python's recursion limit: a parser that walks a document recursively must not fall over on it."""

def wrong_values(huge: int = 200_000) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.just(""),
        st.just("x" * huge),
        st.just([]),
        st.just({}),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    )


_DEEP_MARK = "\x00vigie-deep\x00"


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value[:5]):  # the first items of a list stand for the others
            found.append((*prefix, index))
            found.extend(_paths(child, (*prefix, index)))
    return found


@st.composite
def mutated_json(draw: st.DrawFn, body: bytes, deep: int = DEEP, huge: int = 200_000) -> bytes:
    """The recorded JSON document with a few of its values dropped or replaced by values of another type, a string of
    `huge` characters or lists nested `deep` levels."""
    document = json.loads(body)
    paths = _paths(document)
    spoiled = copy.deepcopy(document)
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=4)):
        parent = spoiled
        try:
            for key in path[:-1]:
                parent = parent[key]
            last = path[-1]
            action = draw(st.sampled_from(["drop", "replace", "deep"]))
            if action == "drop":
                del parent[last]
            elif action == "replace":
                parent[last] = draw(wrong_values(huge))
            else:
                parent[last] = _DEEP_MARK  # json.dumps cannot write so deep a value: it is spliced in below
        except (KeyError, IndexError, TypeError):  # an earlier change removed or retyped that path
            continue
    return json.dumps(spoiled, allow_nan=True).replace(json.dumps(_DEEP_MARK), "[" * deep + '"bottom"' + "]" * deep).encode()


INVALID_UTF8 = [b"\xff", b"\xc3(", b"\xe2\x82", b"\xf0\x28\x8c\x28", b"\xed\xa0\x80", b"\x00"]


@st.composite
def mutated_bytes(draw: st.DrawFn, body: bytes) -> bytes:
    """The recorded body cut short, or with a slice dropped, repeated or replaced by invalid UTF-8 or random bytes."""
    size = len(body)
    start = draw(st.integers(0, size))
    end = draw(st.integers(start, min(size, start + 4000)))
    action = draw(st.sampled_from(["truncate", "drop", "repeat", "invalid", "random", "empty"]))
    if action == "truncate":
        return body[:start]
    if action == "drop":
        return body[:start] + body[end:]
    if action == "repeat":
        return body[:end] + body[start:end] * draw(st.integers(2, 5)) + body[end:]
    if action == "invalid":
        return body[:start] + draw(st.sampled_from(INVALID_UTF8)) + body[start:]
    if action == "random":
        return body[:start] + draw(st.binary(max_size=200)) + body[end:]
    return b""
