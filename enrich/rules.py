"""Watchlist rules: named concept groups combined with AND, OR, NOT and NEAR/n, as in professional listening tools.

Real posts paraphrase ("5G weakens the immune system", "the virus came when the towers went up"), so a narrative
is better caught by the company its words keep than by listed phrases. A rule is parsed once, when the watchlists
load; the watchlist automaton finds every group term in the post's single pass, and `evaluate` then walks the rule
over those hits only. A satisfied rule returns the hits that made it true, so an analyst sees which groups fired
and where.

Grammar (operators in capitals; NOT binds tightest, then NEAR, AND, OR; parentheses group):

    rule    := and ("OR" and)*
    and     := near ("AND" near)*
    near    := unary ("NEAR/" n ["s"] unary)*     n words at most between the two; "s": in the same sentence too
    unary   := "NOT" unary | group | '"' phrase '"' | "(" rule ")"
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from vigie.models import TagMatch

MAX_DISTANCE = 200
"""NEAR/n beyond this is no longer proximity: write AND."""

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<open>\()|(?P<close>\))
        |(?P<near>NEAR\b(?:/(?P<distance>\d+)(?P<sentence>s)?\b)?(?P<rest>/\S*)?)
        |(?P<operator>AND|OR|NOT)\b
        |"(?P<phrase>[^"]*)"
        |(?P<name>[^\s()"]+)
    )""",
    re.VERBOSE,
)
_GROUP_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


class RuleError(ValueError):
    """A rule that cannot be compiled; the message says what to write instead."""


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    """The group's name, or the phrase (in quotes) for a phrase written in the rule."""
    keys: tuple[str, ...] = ()
    """The automaton keys whose hits belong to this group in the rule's language (filled in by the watchlists)."""


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class All:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Any:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Near:
    left: Node
    right: Node
    distance: int
    sentence: bool


Node = Group | Not | All | Any | Near


@dataclass(frozen=True, slots=True)
class Hit:
    """A group term found in a post: its span in a field, and the word positions it covers (fields far apart)."""

    key: str
    group: str
    term: str
    field: str
    start: int
    end: int
    first: int
    last: int


def parse(text: str) -> Node:
    """The rule's tree with group names only (`Group.keys` empty); a RuleError says what is wrong and where."""
    tokens = _tokens(text)
    node, index = _or(tokens, 0, text)
    if index < len(tokens):
        kind, value = tokens[index]
        raise RuleError(f"unexpected {value!r} in rule {text!r}" + (" (a closing parenthesis without its opening one?)" if kind == "close" else " (join terms with AND, OR or NEAR/n)"))
    if _true_by_absence(node):
        raise RuleError(f"rule {text!r} is true for posts that lack words (NOT without a group that must be there)")
    _check_near_operands(node, text)
    return node


def groups_of(node: Node) -> list[Group]:
    """Every group and phrase of a rule, in order of appearance."""
    if isinstance(node, Group):
        return [node]
    if isinstance(node, Not):
        return groups_of(node.child)
    if isinstance(node, Near):
        return groups_of(node.left) + groups_of(node.right)
    return [group for child in node.children for group in groups_of(child)]


def resolve(node: Node, keys: Callable[[Group, bool], tuple[str, ...]], negated: bool = False) -> Node:
    """The same tree with each group's automaton keys filled in; `keys` is told whether the group is under a NOT
    (a debunking word in any language should cancel a rule, whatever the rule's language)."""
    if isinstance(node, Group):
        return Group(node.name, keys(node, negated))
    if isinstance(node, Not):
        return Not(resolve(node.child, keys, not negated))
    if isinstance(node, Near):
        return Near(resolve(node.left, keys, negated), resolve(node.right, keys, negated), node.distance, node.sentence)
    return type(node)(tuple(resolve(child, keys, negated) for child in node.children))


def requirements(node: Node) -> list[frozenset[str]]:
    """Sets of automaton keys of which a post must hold one each for the rule to be true: a cheap test on the keys
    found, so most posts skip evaluation and the positions it needs."""
    if isinstance(node, Group):
        return [frozenset(node.keys)]
    if isinstance(node, Not):
        return []
    if isinstance(node, Near):
        return requirements(node.left) + requirements(node.right)
    parts = [requirements(child) for child in node.children]
    if isinstance(node, All):
        return [clause for part in parts for clause in part]
    if not all(parts):
        return []
    return [frozenset(key for part in parts for clause in part for key in clause)]


def evaluate(node: Node, hits: Mapping[str, list[Hit]], sentence_of: Callable[[Hit], int]) -> list[Hit] | None:
    """The hits that make the rule true (empty when only a NOT made it true), or None when it is false."""
    if isinstance(node, Group):
        found = [hit for key in node.keys for hit in hits.get(key, ())]
        return found or None
    if isinstance(node, Not):
        return [] if evaluate(node.child, hits, sentence_of) is None else None
    if isinstance(node, All):
        witnesses: list[Hit] = []
        for child in node.children:
            found = evaluate(child, hits, sentence_of)
            if found is None:
                return None
            witnesses += found
        return witnesses
    if isinstance(node, Any):
        results = [found for found in (evaluate(child, hits, sentence_of) for child in node.children) if found is not None]
        return [hit for found in results for hit in found] if results else None
    left = evaluate(node.left, hits, sentence_of)
    right = evaluate(node.right, hits, sentence_of) if left else None
    if not left or not right:
        return None
    return _near(left, right, node.distance, sentence_of if node.sentence else None)


def _near(left: list[Hit], right: list[Hit], distance: int, sentence_of: Callable[[Hit], int] | None) -> list[Hit] | None:
    """Hits of either side with a partner on the other side, at most `distance` words between them; overlapping hits are not
    partners (`Agenda 21` is not near its own `agenda`). Right-hand hits are sorted by position, so each left hit
    looks at a window of positions: linear in the text for a fixed distance."""
    gap = distance + 1  # positions apart when `distance` words lie between
    ordered = sorted(right, key=lambda hit: hit.first)
    firsts = [hit.first for hit in ordered]
    longest = max(hit.last - hit.first for hit in ordered)
    kept_left: list[Hit] = []
    kept_right: set[int] = set()
    for a in left:
        paired = False
        for index in range(bisect_left(firsts, a.first - gap - longest), bisect_right(firsts, a.last + gap)):
            b = ordered[index]
            if b.last < a.first - gap or b.field != a.field or (b.start < a.end and a.start < b.end):
                continue
            if sentence_of is not None and sentence_of(a) != sentence_of(b):
                continue
            kept_right.add(index)
            paired = True
        if paired:
            kept_left.append(a)
    if not kept_left:
        return None
    return kept_left + [ordered[index] for index in sorted(kept_right)]


def explain(matches: Iterable[TagMatch]) -> dict[str, str]:
    """Why each narrative was tagged, in one line: its terms, and for a rule its groups with the words that fired
    (`anti-5g: rule five-g NEAR/12 virus · five-g: "5G" · virus: "coronavirus", "immune system"`)."""
    terms: dict[str, list[str]] = {}
    rules: dict[str, dict[str, dict[str, list[str]]]] = {}
    order: dict[str, None] = {}
    for match in matches:
        order.setdefault(match.narrative)
        if match.rule is None:
            terms.setdefault(match.narrative, [])
            if match.term not in terms[match.narrative]:
                terms[match.narrative].append(match.term)
        else:
            words = rules.setdefault(match.narrative, {}).setdefault(match.rule, {}).setdefault(match.group or "", [])
            if match.term not in words:
                words.append(match.term)
    lines: dict[str, str] = {}
    for narrative in order:
        parts = []
        if terms.get(narrative):
            parts.append("terms " + ", ".join(f'"{term}"' for term in terms[narrative]))
        for rule, groups in rules.get(narrative, {}).items():
            parts.append(f"rule {rule}: " + " · ".join(f"{group}: " + ", ".join(f'"{word}"' for word in words) for group, words in groups.items()))
        lines[narrative] = "; ".join(parts)
    return lines


# ------------------------------------------------------------ parsing


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None:  # only an unclosed quote gets here
            raise RuleError(f"unclosed quote in rule {text!r}")
        position = match.end()
        if match["open"]:
            tokens.append(("open", "("))
        elif match["close"]:
            tokens.append(("close", ")"))
        elif match["near"]:
            if match["distance"] is None or match["rest"]:
                raise RuleError(f"NEAR needs a distance in words, such as NEAR/10 (or NEAR/10s for the same sentence), in rule {text!r}")
            distance = int(match["distance"])
            if not 1 <= distance <= MAX_DISTANCE:
                raise RuleError(f"NEAR/{distance}: the distance must be between 1 and {MAX_DISTANCE} words, in rule {text!r}")
            tokens.append(("near", f"{distance}{match['sentence'] or ''}"))
        elif match["operator"]:
            tokens.append(("operator", match["operator"]))
        elif match["phrase"] is not None:
            if not re.search(r"[^\W_]", match["phrase"]):
                raise RuleError(f"empty phrase \"{match['phrase']}\" in rule {text!r}")
            tokens.append(("phrase", match["phrase"]))
        else:
            name = match["name"]
            if name.upper() in ("AND", "OR", "NOT") or name.upper().startswith("NEAR"):
                raise RuleError(f"{name!r} in rule {text!r}: operators are written in capitals ({name.upper()})")
            if not _GROUP_NAME.fullmatch(name):
                raise RuleError(f"{name!r} in rule {text!r} is not a group name (lower-case letters, digits, `-`, `_`); write words in quotes")
            tokens.append(("name", name))
    if not tokens:
        raise RuleError("empty rule")
    return tokens


def _or(tokens: list[tuple[str, str]], index: int, text: str) -> tuple[Node, int]:
    children, index = _operands(tokens, index, text, "OR", _and)
    return (children[0] if len(children) == 1 else Any(tuple(children))), index


def _and(tokens: list[tuple[str, str]], index: int, text: str) -> tuple[Node, int]:
    children, index = _operands(tokens, index, text, "AND", _near_chain)
    return (children[0] if len(children) == 1 else All(tuple(children))), index


def _operands(tokens: list[tuple[str, str]], index: int, text: str, operator: str, operand: Callable[[list[tuple[str, str]], int, str], tuple[Node, int]]) -> tuple[list[Node], int]:
    """`operand (operator operand)*`: the operands in order, and where parsing stopped."""
    node, index = operand(tokens, index, text)
    children = [node]
    while index < len(tokens) and tokens[index] == ("operator", operator):
        node, index = operand(tokens, index + 1, text)
        children.append(node)
    return children, index


def _near_chain(tokens: list[tuple[str, str]], index: int, text: str) -> tuple[Node, int]:
    node, index = _unary(tokens, index, text)
    while index < len(tokens) and tokens[index][0] == "near":
        value = tokens[index][1]
        right, index = _unary(tokens, index + 1, text)
        node = Near(node, right, int(value.rstrip("s")), value.endswith("s"))
    return node, index


def _unary(tokens: list[tuple[str, str]], index: int, text: str) -> tuple[Node, int]:
    if index >= len(tokens):
        raise RuleError(f"rule {text!r} ends where a group was expected")
    kind, value = tokens[index]
    if (kind, value) == ("operator", "NOT"):
        child, index = _unary(tokens, index + 1, text)
        return Not(child), index
    if kind == "open":
        node, index = _or(tokens, index + 1, text)
        if index >= len(tokens) or tokens[index][0] != "close":
            raise RuleError(f"missing closing parenthesis in rule {text!r}")
        return node, index + 1
    if kind == "name":
        return Group(value), index + 1
    if kind == "phrase":
        return Group(f'"{value}"'), index + 1
    raise RuleError(f"rule {text!r}: {value!r} where a group was expected")


def _check_near_operands(node: Node, text: str) -> None:
    """NEAR measures the distance between words that are there: a side that can be true by absence has none."""
    if isinstance(node, Near):
        for side in (node.left, node.right):
            if _true_by_absence(side):
                raise RuleError(f"rule {text!r}: a side of NEAR can be true without words (NOT): put NOT outside the NEAR")
            _check_near_operands(side, text)
    elif isinstance(node, Not):
        _check_near_operands(node.child, text)
    elif isinstance(node, All | Any):
        for child in node.children:
            _check_near_operands(child, text)


def _true_by_absence(node: Node) -> bool:
    if isinstance(node, Not):
        return True
    if isinstance(node, Any):
        return any(_true_by_absence(child) for child in node.children)
    if isinstance(node, All):
        return all(_true_by_absence(child) for child in node.children)
    return False
