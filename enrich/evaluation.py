"""Narrative tagging measured on labelled real posts, the same way by `bench/enrich.py` and the regression tests.

The MediaEval 2020 development set (`tests/data/mediaeval2020/`) holds real tweets that annotators labelled as the
5G-coronavirus conspiracy or another coronavirus conspiracy; the langid texts are ordinary web sentences, where any
narrative tag is a false alarm.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from enrich.watchlists import WatchlistMatcher

FIVE_G = "anti-5g"
FITTING_WATCHLIST = "conspiracy"
"""A tweet of the other set gets a fitting narrative when a narrative of this watchlist other than `anti-5g` tags it."""


@dataclass(frozen=True)
class MediaEvalFigures:
    five_g_posts: int
    other_posts: int
    five_g_recall: float
    """Share of the 5G set tagged `anti-5g`."""
    other_fitting: float
    """Share of the other set tagged with a conspiracy narrative other than `anti-5g`."""
    other_five_g: float
    """Share of the other set tagged `anti-5g`."""
    other_narratives: dict[str, int]
    """How many tweets of the other set each fitting narrative tags."""


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def mediaeval_figures(matcher: WatchlistMatcher, rows: Iterable[dict]) -> MediaEvalFigures:
    counts: Counter[str] = Counter()
    fitting: Counter[str] = Counter()
    for row in rows:
        tagging = matcher.tag(row["text"])
        if row["label"] == "5g-conspiracy":
            counts["five_g"] += 1
            counts["five_g_found"] += FIVE_G in tagging.narratives
            continue
        counts["other"] += 1
        counts["other_five_g"] += FIVE_G in tagging.narratives
        found = {match.narrative for match in tagging.matches if match.watchlist == FITTING_WATCHLIST} - {FIVE_G}
        counts["other_fitting"] += bool(found)
        fitting.update(found)
    return MediaEvalFigures(
        five_g_posts=counts["five_g"],
        other_posts=counts["other"],
        five_g_recall=counts["five_g_found"] / max(counts["five_g"], 1),
        other_fitting=counts["other_fitting"] / max(counts["other"], 1),
        other_five_g=counts["other_five_g"] / max(counts["other"], 1),
        other_narratives=dict(fitting.most_common()),
    )


def per_language_counts(matcher: WatchlistMatcher, rows: Iterable[dict]) -> dict[str, Counter[str]]:
    """On the evaluation posts written for the set, per language: narratives found right (`tp`), wrongly (`fp`),
    missed (`fn`), and posts."""
    counts: dict[str, Counter[str]] = {}
    for row in rows:
        if row["origin"] == "written":
            found, wanted = set(matcher.tag(row["text"]).narratives), set(row["narratives"])
            counts.setdefault(row["language"], Counter()).update(tp=len(found & wanted), fp=len(found - wanted), fn=len(wanted - found), posts=1)
    return dict(sorted(counts.items()))


def false_alarm_rates(matcher: WatchlistMatcher, langid: Path) -> dict[str, tuple[int, int]]:
    """Per language of the langid fixtures (every file of every set): (texts tagged with a narrative, texts)."""
    rates: dict[str, list[int]] = {}
    for path in sorted(langid.glob("*/*.txt")):
        counts = rates.setdefault(path.stem, [0, 0])
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                counts[0] += bool(matcher.tag(line.strip()).narratives)
                counts[1] += 1
    return {language: (tagged, total) for language, (tagged, total) in sorted(rates.items())}
