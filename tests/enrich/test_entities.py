from __future__ import annotations

import pytest

from enrich.entities import extract_entities, normalise_url, registered_domain


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://News.Example.COM/Article?id=3", "https://news.example.com/Article?id=3"),
        ("https://example.com/a?utm_source=tw&utm_medium=social&id=7&fbclid=AbC", "https://example.com/a?id=7"),
        ("https://example.com/a?gclid=1&igshid=2&mc_cid=3&_ga=4", "https://example.com/a"),
        ("https://example.com/page#comments", "https://example.com/page"),
        ("http://example.com:80/x", "http://example.com/x"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://Example.com", "https://example.com/"),
        ("www.example.org/path", "http://www.example.org/path"),
        ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
        ("ftp://example.com/file", None),
        ("https://[::1/", None),
    ],
)
def test_url_normalisation(raw: str, expected: str | None) -> None:
    assert normalise_url(raw) == expected


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://news.example.co.uk/a", "example.co.uk"),
        ("https://www.lemonde.fr/x", "lemonde.fr"),
        ("https://t.me/s/channel", "t.me"),
        ("https://user.github.io/page", "github.io"),
        ("http://192.168.1.10/admin", "192.168.1.10"),
    ],
)
def test_registered_domain_uses_the_public_suffix_list(url: str, domain: str) -> None:
    assert registered_domain(url) == domain


def test_entities_from_text_merge_with_what_the_platform_gave() -> None:
    text = (
        "Lisez (https://www.Example.fr/article?utm_campaign=x#top), puis https://youtu.be/abc?si=123. "
        "#GrandReset #grandreset #5G #2024 @Jean_Dupont @alice@mastodon.social contact@example.org"
    )
    entities = extract_entities(text, hashtags=["Plandemie"], mentions=["@Bob"], links=["https://other.org/x?fbclid=1"])
    assert entities.hashtags == ["plandemie", "grandreset", "5g"]
    assert entities.mentions == ["bob", "jean_dupont", "alice@mastodon.social"]
    assert entities.links == ["https://other.org/x", "https://www.example.fr/article", "https://youtu.be/abc?si=123"]
    assert entities.domains == ["other.org", "example.fr", "youtu.be"]


def test_url_with_parentheses_keeps_them_when_balanced() -> None:
    entities = extract_entities("voir https://en.wikipedia.org/wiki/Chemtrail_(conspiracy) et (https://example.com/a).")
    assert entities.links == ["https://en.wikipedia.org/wiki/Chemtrail_(conspiracy)", "https://example.com/a"]


def test_a_sign_glued_to_what_comes_before_it_starts_no_hashtag_or_mention() -> None:
    """The sign is found first and what precedes it checked after (fast): at the start, after a space or a bracket it counts."""
    entities = extract_entities("#début a#b &#38; /#frag ##double (#ouvert x@y.z /@chemin .@point @fin")
    assert entities.hashtags == ["début", "ouvert"]
    assert entities.mentions == ["fin"]
