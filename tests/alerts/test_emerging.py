"""The emerging-terms finder on crafted counts: one day of current posts against fourteen days of baseline."""

from __future__ import annotations

from alerts.emerging import EmergingParams, TermWindow, find_emerging

STEADY = [TermWindow(f"tag{n}", current=10 + n, baseline=14 * (10 + n), authors=8) for n in range(40)]
"""Forty hashtags posted at the same daily rate in both windows."""


def volumes(terms: list[TermWindow]) -> tuple[int, int]:
    return sum(t.current for t in terms), sum(t.baseline for t in terms)


def test_new_hashtag_used_by_many_emerges() -> None:
    terms = [*STEADY, TermWindow("guerisonquantique", current=25, baseline=0, authors=9)]
    found = find_emerging(terms, *volumes(terms))
    assert [t.term for t in found] == ["guerisonquantique"]
    assert found[0].ratio > 100 and found[0].expected < 0.2 and found[0].p_value < 1e-4


def test_rare_hashtag_now_frequent_emerges() -> None:
    terms = [*STEADY, TermWindow("plandemie", current=30, baseline=3, authors=12)]
    assert [t.term for t in find_emerging(terms, *volumes(terms))] == ["plandemie"]


def test_steady_terms_do_not_emerge() -> None:
    assert find_emerging(STEADY, *volumes(STEADY)) == []


def test_one_account_repeating_a_hashtag_is_not_a_trend() -> None:
    terms = [*STEADY, TermWindow("buymycure", current=80, baseline=0, authors=1)]
    assert find_emerging(terms, *volumes(terms)) == []


def test_common_term_doubling_is_a_spike_not_an_emergence() -> None:
    terms = [*STEADY, TermWindow("vaccin", current=200, baseline=14 * 100, authors=60)]
    assert find_emerging(terms, *volumes(terms)) == []


def test_busier_day_everywhere_does_not_make_everything_emerge() -> None:
    busy = [TermWindow(t.term, current=t.current * 3, baseline=t.baseline, authors=t.authors) for t in STEADY]
    assert find_emerging(busy, *volumes(busy)) == []


def test_too_few_posts_do_not_emerge() -> None:
    terms = [*STEADY, TermWindow("rare", current=6, baseline=0, authors=6)]
    assert find_emerging(terms, *volumes(terms)) == []
    assert [t.term for t in find_emerging(terms, *volumes(terms), EmergingParams(min_count=5))] == ["rare"]


def test_nothing_to_compare_with_gives_no_verdict() -> None:
    terms = [TermWindow("new", current=50, baseline=0, authors=10)]
    assert find_emerging(terms, current_volume=50, baseline_volume=0) == []


def test_most_significant_first() -> None:
    terms = [*STEADY, TermWindow("small", current=12, baseline=0, authors=4), TermWindow("big", current=60, baseline=0, authors=30)]
    assert [t.term for t in find_emerging(terms, *volumes(terms))] == ["big", "small"]
