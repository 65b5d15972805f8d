from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from enrich.regex_literals import required_literals
from enrich.watchlists import WatchlistMatcher, _lower_keeping_offsets, load_watchlists
from tests.support.factories import write_config

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"\bnwo\b", {"nwo"}),
        (r"(?:cured?|cures|healed)\s+\w+", {"cure", "cures", "healed"}),
        (r"\b(?:gu[ée]ri[rst]?|vaincre)\s+le", {"guéri", "gueri", "vaincre"}),
        (r"died suddenly\b.{0,80}|\bvacc\w*", {"died suddenly", "vacc"}),
        (r"x?yz", {"yz"}),
        (r"(?:ab)*cd", {"cd"}),
        (r"(?:ab)+c", {"ab"}),
        (r"[^a]bc", {"bc"}),
        (r"(?>abc)d", {"abc"}),
    ],
)
def test_the_literals_every_match_contains(pattern: str, expected: set[str]) -> None:
    assert required_literals(pattern) == expected


@pytest.mark.parametrize("pattern", [r"\w+", r"(?i)abc", r"a(?i:bcd)e", r"(?:ab)?c", r"a|\w", r"x.y", r"[a-z]{5}"])
def test_no_literals_when_a_match_needs_none_or_case_may_differ(pattern: str) -> None:
    assert required_literals(pattern) is None


def _shipped_patterns() -> list[str]:
    return [pattern for watchlist in load_watchlists(CONFIG / "watchlists") for narrative in watchlist.narratives for pattern in narrative.patterns]


def test_every_match_of_the_shipped_patterns_contains_one_of_their_literals() -> None:
    """Texts built from the patterns' own words, shuffled, so that many of them match."""
    patterns = _shipped_patterns()
    assert patterns
    vocabulary = sorted({word for pattern in patterns for word in re.findall(r"[a-zàâçéèêëîïôûùüÿœ0-9]+", pattern)})
    rng = random.Random(7)
    matched = 0
    for _ in range(3000):
        text = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(2, 12)))
        for pattern in patterns:
            if re.search(pattern, text):
                matched += 1
                literals = required_literals(pattern)
                assert literals is None or any(literal in text for literal in literals), (pattern, text)
    assert matched > 100


def test_the_matcher_finds_what_trying_every_pattern_finds() -> None:
    """The prefilter only skips work: the same matches as running every pattern on every text."""
    matcher = WatchlistMatcher(load_watchlists(CONFIG / "watchlists"))
    patterns = [(re.compile(regex.pattern), pattern) for _, regex, pattern in matcher._patterns]
    texts = [
        "Il a guéri son cancer naturellement grâce au protocole MMS",
        "He cured my autism with a 5G weapon, died suddenly after the vaccine",
        "Je suis un homme vivant, pas une personne morale",
        "nothing to see here",
        *(path.read_text(encoding="utf-8", errors="replace")[:5000] for path in sorted((CONFIG.parent / "tests" / "fixtures").rglob("*.json"))[:20]),
    ]
    for text in texts:
        lowered = _lower_keeping_offsets(text)
        expected = [(pattern.pattern, m.start(), m.end()) for regex, pattern in patterns for m in regex.finditer(lowered)]
        matches, _, _ = matcher.scan(text)
        assert sorted((m.term, m.start, m.end) for m in matches if m.term in {p.pattern for _, p in patterns}) == sorted(expected)


def test_patterns_without_literals_still_run(tmp_path: Path) -> None:
    watchlist = {"narratives": [{"id": "n", "label": "N", "patterns": [r"\b\d{3}-\d{4}\b", r"\bqxci\b"]}]}
    matcher = WatchlistMatcher(load_watchlists(write_config(tmp_path, watchlists={"w": watchlist}) / "watchlists"))
    assert [m.term for m in matcher.tag("call 555-1234 for the qxci").matches] == [r"\b\d{3}-\d{4}\b", r"\bqxci\b"]
    assert [m.term for m in matcher.tag("call 555-1234").matches] == [r"\b\d{3}-\d{4}\b"]
