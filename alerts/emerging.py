"""Emerging terms: hashtags and watchlist terms rare or absent in the baseline window and frequent now. Pure, no I/O.

A term's baseline rate is uncertain when it was seen a few times or never, so the rate gets a Jeffreys prior
(half a post) and the count expected now is its posterior predictive: a negative binomial whose mean is the
baseline rate scaled to the current window's volume (the Poisson-gamma model behind empirical-Bayes surveillance;
the same idea as Monroe et al.'s log-odds with an informative prior, 2008). The tail probability is corrected
for the number of terms tried (Bonferroni), then guards on count, authors and ratio decide.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from alerts.spikes import log_upper_tail

PRIOR_POSTS = 0.5
"""Jeffreys prior on a term's baseline count: a term never seen is treated as seen half a time."""


@dataclass(frozen=True, slots=True)
class TermWindow:
    """A term's posts in the current window and in the baseline window, and its distinct authors now."""

    term: str
    current: int
    baseline: int
    authors: int


@dataclass(frozen=True, slots=True)
class EmergingParams:
    p_value: float = 1e-4
    """Largest tail probability, after correcting for the number of terms, that counts as emerging."""
    min_count: int = 10
    """Posts with the term in the current window."""
    min_authors: int = 3
    """Distinct authors using it in the current window: one account repeating a hashtag is not a trend."""
    min_ratio: float = 5.0
    """Current count over the count expected from the baseline rate: rare before, frequent now."""


@dataclass(frozen=True, slots=True)
class EmergingTerm:
    term: str
    current: int
    baseline: int
    expected: float
    """Posts expected in the current window at the baseline rate (with the prior)."""
    ratio: float
    p_value: float
    score: float
    """-log10 of the corrected tail probability."""
    authors: int


def find_emerging(terms: Iterable[TermWindow], current_volume: float, baseline_volume: float, params: EmergingParams = EmergingParams()) -> list[EmergingTerm]:
    """Terms that emerged, most significant first.

    The volumes are what the two windows hold in total (posts, or term occurrences): the baseline rate of a term is
    scaled by their ratio, so a generally busier day does not make every term emerge. No baseline volume, no verdict.
    """
    terms = list(terms)
    if baseline_volume <= 0 or current_volume <= 0 or not terms:
        return []
    scale = current_volume / baseline_volume
    found = []
    for term in terms:
        expected = (term.baseline + PRIOR_POSTS) * scale
        ratio = term.current / expected
        if term.current < params.min_count or term.authors < params.min_authors or ratio < params.min_ratio:
            continue
        # Posterior predictive of a Poisson count whose rate has a Gamma(baseline + prior, baseline volume) posterior.
        log_tail = log_upper_tail(term.current, expected, 1.0 + scale)
        p_value = min(1.0, math.exp(log_tail) * len(terms))
        if p_value <= params.p_value:
            score = -math.log10(max(p_value, 1e-300))
            found.append(EmergingTerm(term.term, term.current, term.baseline, expected, ratio, p_value, score, term.authors))
    return sorted(found, key=lambda t: (-t.score, t.term))
