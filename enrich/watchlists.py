"""Watchlists: narratives and the words that reveal them, matched in one Aho-Corasick pass.

A watchlist file (`config/watchlists/<id>.yaml`) holds `narratives:`; each has `terms` per language,
optional `hashtags`, `patterns` (regular expressions), `rules` over the file's concept `groups`
(`enrich/rules.py`) and `exclude` terms. Matching folds case and accents, respects word boundaries, accepts
plural and feminine forms, reads hashtags as words (`#GreatReset` → `great reset`) and keeps the span of every
match in the original text.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Literal

import ahocorasick
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from enrich.folding import WORD, camel_boundaries, fold_word
from enrich.inflection import inflections
from enrich.regex_literals import required_literals
from enrich.rules import Group, Hit, Node, RuleError, evaluate, groups_of, parse, requirements, resolve
from vigie.config import ConfigError, line_of, read_yaml, validate_file
from vigie.models import TagMatch

HASHTAG = re.compile(r"#(?<![\w#&]#)([^\W_](?:[^\W_]|[\u0300-\u036f])*)")
"""The sign first, then the look-behind: the engine jumps from `#` to `#` rather than testing every character."""

EXACT = "="
"""A term that starts with `=` is matched as written (folded), without plural or feminine forms."""
PREFIX = "*"
"""A term that ends with `*` matches every word that starts with its last word (`vaccin*`: vaccine, vaccinated)."""
MIN_PREFIX = 3
SENTENCE_END = re.compile(r"[.!?…]+(?=\s+[\"'«“(\[]*[A-ZÀ-ÖØ-ÞΑ-ΩА-Я])|\n")
"""A full stop, question or exclamation mark before a capital, or a line break: `v. 2.0` and `etc. and` go on."""

HASHTAG_FILLERS = frozenset(
    """stop non no not anti pro the le la les l de du des d un une a au aux et and or of in is it to my we our us your you
    je tu il elle nous vous ils on ma mon mes ton ta tes notre votre nos vos pas plus more end fin free libre truth verite
    real vrai fake faux big great new nouveau nouvel nouvelle grand grande now wake up awake save sauvez protect do dont
    say said all tous toutes tout qui who why what how get out go ne me moi""".split()
)
"""Small words a hashtag may glue to a term (`#stopgrandreset`); only these and watchlist words split a
lower-case hashtag, so `#secteur` is never read as `secte` + `ur`."""

MatchKind = Literal["term", "exclude", "group"]
_LEADING_ASSERTIONS = re.compile(r"^(?:\\b|\(\?<[!=](?:[^()\\]|\\.)*\))+")
"""`\\b` or a look-behind opening a pattern: without them Python's `re` can jump to the pattern's first letters,
so the pattern stripped of them is a fast test that must pass before the real pattern runs."""
_GROUP_NAMES = re.compile(r"\(\?P(?:<\w+>|=\w+\))|\\N\{[^}]*\}")


def has_upper_case_letters(pattern: str) -> bool:
    """Upper-case letters of a regex, other than escapes (`\\W`, `\\S`...), group names and `\\N{NAME}`."""
    pattern = _GROUP_NAMES.sub("", pattern)
    index = 0
    while index < len(pattern):
        if pattern[index] == "\\":
            index += 2
            continue
        if pattern[index].isupper():
            return True
        index += 1
    return False


def check_term(term: str) -> str:
    """A term, hashtag-free: words, an optional leading `=` and an optional trailing `*`."""
    if not WORD.search(term):
        raise ValueError(f"term {term!r} has no letters or digits")
    if PREFIX in term:
        words = WORD.findall(term)
        if not term.rstrip().endswith(PREFIX) or term.count(PREFIX) > 1 or term.startswith(EXACT):
            raise ValueError(f"term {term!r}: `*` only at the end of a term, without `=` (`vaccin*`)")
        if len(words[-1]) < MIN_PREFIX or not term.rstrip()[:-1].endswith(words[-1]):
            raise ValueError(f"term {term!r}: `*` needs at least {MIN_PREFIX} letters right before it")
    return term


def check_language_code(code: str) -> str:
    if not re.fullmatch(r"[a-z]{2,3}|any", code):
        raise ValueError(f"{code!r} is not a language code (use ISO 639-1 such as fr, en, or `any`)")
    return code


class Narrative(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Stable id: lower-case letters, digits, `-`, `_`.")
    label: str = Field(min_length=1, description="Name shown to analysts.")
    description: str = Field("", description="What the narrative is and why it is watched.")
    terms: dict[str, list[str]] = Field(default_factory=dict, description="Language code → terms and phrases (`=term`: no inflections).")
    hashtags: list[str] = Field(default_factory=list, description="Hashtags (with or without `#`) matched only as hashtags.")
    patterns: list[str] = Field(default_factory=list, description="Regular expressions in lower case, matched on the lower-cased text (accents kept).")
    rules: dict[str, list[str]] = Field(default_factory=dict, description="Language code → rules over the file's `groups` (`five-g NEAR/12 virus AND NOT debunk`), each evaluated with that language's group terms.")
    exclude: list[str] = Field(default_factory=list, description="Terms that cancel every match of this narrative in the same post.")

    @field_validator("terms")
    @classmethod
    def _language_codes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for code, terms in value.items():
            check_language_code(code)
            for term in terms:
                check_term(term)
        return value

    @field_validator("rules")
    @classmethod
    def _rule_languages(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for code in value:
            check_language_code(code)
        return value

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
            if has_upper_case_letters(pattern):
                raise ValueError(f"pattern {pattern!r} has upper-case letters: patterns are matched on the lower-cased text, write them in lower case")
        return value

    @model_validator(mode="after")
    def _something_to_match(self) -> Narrative:
        if not (any(self.terms.values()) or self.hashtags or self.patterns or any(self.rules.values())):
            raise ValueError(f"narrative {self.id!r} has no terms, hashtags, patterns or rules")
        return self


class WatchlistFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = None
    description: str | None = None
    groups: dict[str, dict[str, list[str]] | list[str]] = Field(default_factory=dict, description="Concept groups for the rules: name → terms per language (or a list for `any`).")
    narratives: list[Narrative] = Field(default_factory=list)

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: dict[str, dict[str, list[str]] | list[str]]) -> dict[str, dict[str, list[str]]]:
        groups = {}
        for name, terms in value.items():
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
                raise ValueError(f"group name {name!r}: lower-case letters, digits, `-`, `_`")
            by_language = {"any": terms} if isinstance(terms, list) else terms
            if not any(by_language.values()):
                raise ValueError(f"group {name!r} is empty")
            for code, items in by_language.items():
                check_language_code(code)
                for term in items:
                    check_term(term)
            groups[name] = by_language
        return groups


@dataclass(frozen=True)
class Watchlist:
    id: str
    path: Path
    narratives: list[Narrative] = field(default_factory=list)
    groups: dict[str, dict[str, list[str]]] = field(default_factory=dict)


def load_watchlist(path: Path) -> Watchlist:
    data, node = read_yaml(path)
    parsed = validate_file(path, WatchlistFile, data, node)
    seen: dict[str, int] = {}
    for index, narrative in enumerate(parsed.narratives):
        if narrative.id in seen:
            line = line_of(node, ("narratives", index, "id"))
            raise ConfigError(f"{path}:{line}: narratives[{index}].id: duplicate narrative id {narrative.id!r}")
        seen[narrative.id] = index
        for language, rules in narrative.rules.items():
            for number, rule in enumerate(rules):
                try:
                    problem = _rule_groups_problem(parse(rule), parsed.groups, language)
                except RuleError as exc:
                    problem = str(exc)
                if problem:
                    line = line_of(node, ("narratives", index, "rules", language, number))
                    raise ConfigError(f"{path}:{line}: narratives[{index}].rules.{language}[{number}]: {problem}")
    return Watchlist(id=path.stem, path=path, narratives=parsed.narratives, groups=parsed.groups)


def _rule_groups_problem(tree: Node, groups: dict[str, dict[str, list[str]]], language: str) -> str | None:
    for group in groups_of(tree):
        if group.name.startswith('"'):
            continue
        if group.name not in groups:
            known = ", ".join(sorted(groups)) or "none: define them under `groups:`"
            return f"unknown group {group.name!r} (groups of this file: {known})"
        if not _group_languages(groups[group.name], language):
            return f"group {group.name!r} has no terms in {language!r} or `any`"
    return None


def _group_languages(group: dict[str, list[str]], language: str) -> list[str]:
    """The languages of a group's terms that a rule written for `language` uses."""
    return [code for code, terms in group.items() if terms and (language in ("any", code) or code == "any")]


def load_watchlists(folder: Path) -> list[Watchlist]:
    """Every `*.yaml` of the folder, in name order; a narrative id may appear in one file only."""
    watchlists = [load_watchlist(path) for path in sorted(folder.glob("*.yaml"))] if folder.is_dir() else []
    owner: dict[str, Path] = {}
    for watchlist in watchlists:
        for narrative in watchlist.narratives:
            if narrative.id in owner:
                raise ConfigError(f"{watchlist.path}: narrative id {narrative.id!r} is already defined in {owner[narrative.id]}")
            owner[narrative.id] = watchlist.path
    return watchlists


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: MatchKind
    narrative: str
    watchlist: str
    term: str
    words: int
    group: str = ""
    """For a group term: its automaton key (`watchlist/group/language`)."""


@dataclass(frozen=True, slots=True)
class _Rule:
    narrative: str
    watchlist: str
    text: str
    tree: Node
    requires: tuple[frozenset[str], ...]
    keys: frozenset[str]


_WordGroup = tuple[_Entry, int, int]
"""A group term found in a text, by the positions of its first and last words."""
_SpanGroup = tuple[_Entry, int, int]
"""A group term found inside a hashtag, by its character span."""


@dataclass(frozen=True, slots=True)
class _Pattern:
    narrative: str
    watchlist: str
    pattern: str


@dataclass(frozen=True, slots=True)
class Tagging:
    """What the watchlists say about one post."""

    terms: list[str]
    narratives: list[str]
    matches: list[TagMatch]


def _folded_words(term: str) -> list[str]:
    return [fold_word(word) for word in WORD.findall(term.removeprefix(EXACT))]


class WatchlistMatcher:
    """All terms of all watchlists in one automaton: `tag` reads a post's words once, whatever the number of terms."""

    def __init__(self, watchlists: list[Watchlist]) -> None:
        self.watchlists = watchlists
        keys: dict[str, list[_Entry]] = {}
        self._joined: dict[str, list[_Entry]] = {}
        self._hashtags: dict[str, list[_Entry]] = {}
        self.vocabulary: set[str] = set(HASHTAG_FILLERS)
        patterns: list[_Pattern] = []
        self._rules: list[_Rule] = []
        self._rules_of_key: dict[str, list[int]] = {}
        for watchlist in watchlists:
            for name, by_language in watchlist.groups.items():
                for language, terms in by_language.items():
                    key = f"{watchlist.id}/{name}/{language}"
                    for term in terms:
                        self._add_term(keys, _Entry("group", "", watchlist.id, term, 0, key), language)
            for narrative in watchlist.narratives:
                for language, rules in sorted(narrative.rules.items()):
                    for rule in rules:
                        self._add_rule(keys, watchlist, narrative.id, language, rule)
                for language, terms in narrative.terms.items():
                    for term in terms:
                        self._add_term(keys, _Entry("term", narrative.id, watchlist.id, term, 0), language)
                for term in narrative.exclude:
                    for language in ("fr", "en"):
                        self._add_term(keys, _Entry("exclude", narrative.id, watchlist.id, term, 0), language)
                for tag in narrative.hashtags:
                    joined = "".join(_folded_words(tag))
                    self._hashtags.setdefault(joined, []).append(_Entry("term", narrative.id, watchlist.id, tag, 1))
                patterns.extend(_Pattern(narrative.id, watchlist.id, pattern) for pattern in narrative.patterns)
        self.automaton = ahocorasick.Automaton()
        for key, entries in keys.items():
            unique = tuple(dict.fromkeys(entries))
            self.automaton.add_word(key, (len(key), tuple(e for e in unique if e.kind != "group"), tuple(e for e in unique if e.kind == "group")))
        if keys:
            self.automaton.make_automaton()
        self._has_terms = bool(keys)
        self._patterns = [(re.compile(_LEADING_ASSERTIONS.sub("", p.pattern)), re.compile(p.pattern), p) for p in patterns]
        self._pattern_literals, self._unfiltered_patterns = _literal_automaton([p.pattern for p in patterns])
        self._split = lru_cache(maxsize=65_536)(self._split_hashtag)

    def _add_term(self, keys: dict[str, list[_Entry]], entry: _Entry, language: str) -> None:
        words = _folded_words(entry.term)
        prefix = entry.term.rstrip().endswith(PREFIX)
        forms = [tuple(words)] if entry.term.startswith(EXACT) or prefix else inflections(words, language)
        for form in forms:
            key = f" {' '.join(form)}" + ("" if prefix else " ")
            if any((e.kind, e.narrative, e.group) == (entry.kind, entry.narrative, entry.group) for e in keys.get(key, ())):
                continue  # a form two terms share (`plandémie`, Italian `plandemia`'s plural) keeps the term listed first
            keys.setdefault(key, []).append(_Entry(entry.kind, entry.narrative, entry.watchlist, entry.term, len(form), entry.group))
            if prefix:
                self.vocabulary.update(form[:-1])
                continue
            self._joined.setdefault("".join(form), []).append(_Entry(entry.kind, entry.narrative, entry.watchlist, entry.term, 1, entry.group))
            self.vocabulary.update(form)

    def _add_rule(self, keys: dict[str, list[_Entry]], watchlist: Watchlist, narrative: str, language: str, text: str) -> None:
        """A rule with its groups resolved to automaton keys: the rule's language and `any` for what must be there,
        every language for what must not; a phrase written in the rule becomes a group of its own."""

        def group_keys(group: Group, negated: bool) -> tuple[str, ...]:
            if group.name.startswith('"'):
                key = f"{watchlist.id}/{group.name}/{language}"
                self._add_term(keys, _Entry("group", "", watchlist.id, group.name[1:-1], 0, key), language)
                return (key,)
            codes = _group_languages(watchlist.groups[group.name], "any" if negated else language)
            return tuple(f"{watchlist.id}/{group.name}/{code}" for code in codes)

        tree = resolve(parse(text), group_keys)
        index = len(self._rules)
        rule_keys = frozenset(key for group in groups_of(tree) for key in group.keys)
        self._rules.append(_Rule(narrative, watchlist.id, text, tree, tuple(requirements(tree)), rule_keys))
        for key in rule_keys:
            self._rules_of_key.setdefault(key, []).append(index)

    # ------------------------------------------------------------ scanning

    def _split_hashtag(self, word: str) -> tuple[tuple[int, int], ...]:
        """Spans of the words glued in a hashtag: watchlist words anywhere, other words only between case changes."""
        folded = [fold_word(char) for char in word]
        if any(len(char) != 1 for char in folded):
            return ((0, len(word)),)
        lower = "".join(folded)
        size = len(word)
        cuts = sorted({0, size, *camel_boundaries(word)})
        # best[i] = (unknown segments, segments, previous cut) for the prefix of length i
        best: list[tuple[int, int, int] | None] = [None] * (size + 1)
        best[0] = (0, 0, -1)
        for end in range(1, size + 1):
            starts = {start for start in range(max(0, end - 30), end) if lower[start:end] in self.vocabulary}
            known = set(starts)
            if end in cuts:
                starts.update(cut for cut in cuts if cut < end)
            for start in sorted(starts):
                if best[start] is None:
                    continue
                unknown, segments, _ = best[start]
                candidate = (unknown + (start not in known), segments + 1, start)
                if best[end] is None or candidate[:2] < best[end][:2]:
                    best[end] = candidate
        spans: list[tuple[int, int]] = []
        end = size
        while end > 0:
            start = best[end][2]
            spans.append((start, end))
            end = start
        return tuple(reversed(spans))

    def _scan_words(self, words: list[str], spans: Callable[[], list[tuple[int, int]]], found: list[tuple[_Entry, int, int]], groups: list[_WordGroup], *, ascii_case: bool = False) -> None:
        """Run the automaton over folded words joined by spaces; `spans` gives their offsets, only when a term matched
        (group terms keep word positions: most never take part in a true rule).

        `ascii_case`: the words are ASCII, not yet folded: lower-casing them all at once folds them, and keeps their
        lengths (word by word through `fold_word`'s cache cost a fifth of tagging)."""
        joined = " " + " ".join(words) + " "
        hits = list(self.automaton.iter(joined.lower() if ascii_case else joined))
        if not hits:
            return
        offsets: list[tuple[int, int]] | None = None
        starts = list(accumulate(map((1).__add__, map(len, words[:-1])), initial=1))  # where each word starts in `joined`
        for end, (length, entries, group_entries) in hits:
            first = bisect_left(starts, end - length + 2)
            groups.extend((entry, first, first + entry.words - 1) for entry in group_entries)
            if entries:
                offsets = offsets or spans()
                found.extend((entry, offsets[first][0], offsets[first + entry.words - 1][1]) for entry in entries)

    def scan(self, text: str, field: Literal["text", "title"] = "text", words: list[str] | None = None) -> tuple[list[TagMatch], set[str], list[Hit]]:
        """Matches in one text, the narratives whose exclusion terms occur in it, and the group terms found for the
        rules; `words` is `WORD.findall(text)` when the caller has it."""
        found = self._scan(text, field, words)
        return found.matches, found.excluded, found.hits(None)

    def _scan(self, text: str, field: Literal["text", "title"], words: list[str] | None) -> _Scan:
        found: list[tuple[_Entry, int, int]] = []
        scan = _Scan(text, field)
        if self._has_terms:
            words = WORD.findall(text) if words is None else words
            ascii_case = text.isascii()
            if words:
                self._scan_words(words if ascii_case else list(map(fold_word, words)), scan.spans, found, scan.word_groups, ascii_case=ascii_case)
        if "#" in text:
            for match in HASHTAG.finditer(text):
                self._scan_hashtag(match.group(1), match.start(1), found, scan.span_groups)
        if self._patterns:
            lowered = _lower_keeping_offsets(text)
            for quick, regex, pattern in map(self._patterns.__getitem__, self._patterns_to_try(lowered)):
                if quick.search(lowered) is None:
                    continue
                for match in regex.finditer(lowered):
                    found.append((_Entry("term", pattern.narrative, pattern.watchlist, pattern.pattern, 0), match.start(), match.end()))
        scan.excluded = {entry.narrative for entry, _, _ in found if entry.kind == "exclude"}
        scan.matches = [
            TagMatch(narrative=entry.narrative, term=entry.term, field=field, start=start, end=end, watchlist=entry.watchlist)
            for entry, start, end in found
            if entry.kind == "term"
        ]
        return scan

    def _patterns_to_try(self, lowered: str) -> list[int]:
        """Patterns whose required literals occur in the text, and those that have none, in watchlist order."""
        if not len(self._pattern_literals):
            return self._unfiltered_patterns
        found = {index for _, indexes in self._pattern_literals.iter(lowered) for index in indexes}
        return sorted(found.union(self._unfiltered_patterns))

    def _scan_hashtag(self, word: str, start: int, found: list[tuple[_Entry, int, int]], groups: list[_SpanGroup]) -> None:
        """A hashtag as a whole (hashtag entries, terms written without spaces) and as the words glued in it."""
        joined = fold_word(word)
        end = start + len(word)
        found.extend((entry, start - 1, end) for entry in self._hashtags.get(joined, ()))
        for entry in self._joined.get(joined, ()):
            (groups if entry.kind == "group" else found).append((entry, start, end))
        parts = self._split(word) if self._has_terms and len(word) > 3 else ()
        if len(parts) > 1:
            part_groups: list[_WordGroup] = []
            self._scan_words([fold_word(word[a:b]) for a, b in parts], lambda: [(start + a, start + b) for a, b in parts], found, part_groups)
            groups.extend((entry, start + parts[first][0], start + parts[last][1]) for entry, first, last in part_groups)

    def tag(self, text: str, title: str | None = None, words: list[str] | None = None) -> Tagging:
        """Matches of a post's title and text, minus excluded narratives, longest match first where spans nest;
        `words` is `WORD.findall(text)` when the caller has it."""
        scans = [self._scan(text, "text", words)]
        if title:
            scans.insert(0, self._scan(title, "title", None))
        matches = [match for scan in scans for match in scan.matches]
        excluded = {narrative for scan in scans for narrative in scan.excluded}
        keys = {entry.group for scan in scans for entry, _, _ in (*scan.word_groups, *scan.span_groups)}
        if keys:
            matches += self._rule_matches(keys, scans)
        kept = _without_nested([m for m in matches if m.narrative not in excluded])
        return Tagging(
            terms=list(dict.fromkeys(m.term for m in kept)),
            narratives=list(dict.fromkeys(m.narrative for m in kept)),
            matches=kept,
        )

    def _rule_matches(self, keys: set[str], scans: list[_Scan]) -> list[TagMatch]:
        """The rules whose every required group was found, evaluated over the hits of their groups alone."""
        candidates = sorted({index for key in keys for index in self._rules_of_key.get(key, ())})
        rules = [rule for rule in map(self._rules.__getitem__, candidates) if all(clause & keys for clause in rule.requires)]
        if not rules:
            return []
        wanted = set().union(*(rule.keys for rule in rules))
        by_key: dict[str, list[Hit]] = {}
        for scan in scans:
            for hit in scan.hits(wanted):
                by_key.setdefault(hit.key, []).append(hit)
        fields = {scan.field: scan for scan in scans}

        def sentence_of(hit: Hit) -> int:
            return fields[hit.field].sentence(hit.start)

        matches = []
        for rule in rules:
            for hit in evaluate(rule.tree, by_key, sentence_of) or ():
                matches.append(TagMatch(narrative=rule.narrative, term=hit.term, field=hit.field, start=hit.start, end=hit.end, watchlist=rule.watchlist, rule=rule.text, group=hit.group))
        return matches


class _Scan:
    """What one field of a post holds: term matches at once, group terms as they were found, turned into hits
    (spans and word positions) only for the rules that may be true."""

    def __init__(self, text: str, field: Literal["text", "title"]) -> None:
        self.text = text
        self.field = field
        self.matches: list[TagMatch] = []
        self.excluded: set[str] = set()
        self.word_groups: list[_WordGroup] = []
        self.span_groups: list[_SpanGroup] = []
        self._spans: list[tuple[int, int]] | None = None
        self._sentence_ends: list[int] | None = None

    def spans(self) -> list[tuple[int, int]]:
        if self._spans is None:
            self._spans = [match.span() for match in WORD.finditer(self.text)]
        return self._spans

    def sentence(self, offset: int) -> int:
        if self._sentence_ends is None:
            self._sentence_ends = [match.end() for match in SENTENCE_END.finditer(self.text)]
        return bisect_right(self._sentence_ends, offset)

    def hits(self, wanted: set[str] | None) -> list[Hit]:
        """Group terms of the wanted keys (all when None) with their spans and word positions (a hashtag's parts
        share its position); a title's positions come after every position of a text, so NEAR never joins the two."""
        shift = 1 << 40 if self.field == "title" else 0
        hits = []
        for entry, first, last in self.word_groups:
            if wanted is None or entry.group in wanted:
                spans = self.spans()
                hits.append(self._hit(entry, spans[first][0], spans[last][1], shift + first, shift + last))
        if self.span_groups:
            starts = [begin for begin, _ in self.spans()]
            for entry, start, end in self.span_groups:
                if wanted is None or entry.group in wanted:
                    hits.append(self._hit(entry, start, end, shift + bisect_right(starts, start) - 1, shift + bisect_right(starts, end - 1) - 1))
        return hits

    def _hit(self, entry: _Entry, start: int, end: int, first: int, last: int) -> Hit:
        return Hit(entry.group, entry.group.split("/", 1)[1].rsplit("/", 1)[0], entry.term, self.field, start, end, first, last)


_matchers: dict[Path, tuple[bytes, WatchlistMatcher]] = {}


def watchlist_matcher(folder: Path) -> WatchlistMatcher:
    """The matcher of a watchlists folder, built again only when its files changed (compared by content: an edit
    may keep a file's size and modification time). A crawl forked from the warm launcher finds the one built at
    warm-up instead of parsing the YAML and building the automaton again, a third of a second per crawl."""
    digest = hashlib.blake2b()
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    fingerprint = digest.digest()
    known = _matchers.get(folder.resolve())
    if known is not None and known[0] == fingerprint:
        return known[1]
    matcher = WatchlistMatcher(load_watchlists(folder))
    _matchers[folder.resolve()] = (fingerprint, matcher)
    return matcher


def _literal_automaton(patterns: list[str]) -> tuple[ahocorasick.Automaton, list[int]]:
    """Every pattern's required literals in one automaton (literal → the patterns that need it), and the
    patterns that have none."""
    owners: dict[str, list[int]] = {}
    unfiltered = []
    for index, pattern in enumerate(patterns):
        literals = required_literals(pattern)
        if literals is None:
            unfiltered.append(index)
        for literal in literals or ():
            owners.setdefault(literal, []).append(index)
    automaton = ahocorasick.Automaton()
    for literal, indexes in owners.items():
        automaton.add_word(literal, tuple(indexes))
    if owners:
        automaton.make_automaton()
    return automaton, unfiltered


def _lower_keeping_offsets(text: str) -> str:
    """Lower case, character for character (the few letters whose lower case is longer are kept as they are)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(char if len(char.lower()) != 1 else char.lower() for char in text)


def _without_nested(matches: list[TagMatch]) -> list[TagMatch]:
    """One match per span: drop repeats and matches inside a longer match of the same narrative."""
    ordered = sorted(matches, key=lambda m: (m.field != "title", m.start, -(m.end - m.start), m.narrative, m.term))
    kept: list[TagMatch] = []
    seen: set[tuple[str, str, int, int]] = set()
    for match in ordered:
        key = (match.field, match.narrative, match.start, match.end)
        if key in seen:
            continue
        if any(k.field == match.field and k.narrative == match.narrative and k.start <= match.start and match.end <= k.end for k in kept):
            continue
        seen.add(key)
        kept.append(match)
    return kept
