"""Hostile text becomes inert Markdown; only http(s) URLs become links."""

from __future__ import annotations

import re
import string

import pytest

from dashboard.render import highlighted, md, md_block, merge_spans, safe_url, source_url
from vigie.config import SourcesFile

_UNESCAPE = re.compile(r"\\(.)")


@pytest.mark.parametrize(
    "text",
    [
        "[click](javascript:alert(1))",
        "<script>alert(1)</script>",
        "**bold** _it_ `code` ~~del~~",
        "![img](https://x.example/a.png)",
        "&lt;b&gt; &amp; &#60;",
        ":red[red] :material/home: :smile:",
        "$x^2$ $$y$$",
        "# heading\n> quote\n- item\n1. item\n---",
        "<https://autolink.example> www.example.com https://example.com",
    ],
)
def test_every_markdown_construct_is_escaped(text: str) -> None:
    rendered = md_block(text)
    assert all(f"\\{char}" in rendered for char in set(text) & set(string.punctuation))
    assert re.findall(r"(?<!\\)[" + re.escape(string.punctuation.replace("\\", "")) + "]", rendered) == []
    assert _UNESCAPE.sub(r"\1", rendered.replace("  \n", "\n")) == text


def test_md_keeps_one_line() -> None:
    assert md("a\n\nb  c") == "a b c"


def test_highlighted_marks_spans_and_escapes_everything_else() -> None:
    text = "a *cure* [x](y)\nmiracle cure!"
    out = highlighted(text, [(len(text) - 13, len(text) - 1), (3, 7)])
    assert out == "a \\*:orange-background[cure]\\* \\[x\\]\\(y\\)  \n:orange-background[miracle cure]\\!"


def test_spans_are_merged_and_clipped() -> None:
    assert merge_spans([(5, 9), (0, 3), (2, 4), (8, 20), (30, 40), (6, 6)], 12) == [(0, 4), (5, 12)]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/a?b=c", "https://example.org/a?b=c"),
        ("HTTP://EXAMPLE.org", "HTTP://EXAMPLE.org"),
        ("javascript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        ("data:text/html,<script>", None),
        ("//example.org/x", None),
        ("https://", None),
        ("https://ex ample.org", None),
        ('https://example.org/"onmouseover', None),
        (None, None),
    ],
)
def test_only_http_urls_become_links(url: str | None, expected: str | None) -> None:
    assert safe_url(url) == expected


@pytest.mark.parametrize(
    ("source", "url"),
    [
        ({"platform": "telegram", "channel": "some_channel"}, "https://t.me/s/some_channel"),
        ({"platform": "mastodon", "instance": "https://mastodon.social/", "hashtag": "complotisme"}, "https://mastodon.social/tags/complotisme"),
        ({"platform": "mastodon", "instance": "https://piaille.fr", "account": "guru@piaille.fr"}, "https://piaille.fr/@guru"),
        ({"platform": "reddit", "subreddit": "QAnonCasualties"}, "https://www.reddit.com/r/QAnonCasualties/"),
        ({"platform": "reddit", "search": '"miracle cure"'}, "https://www.reddit.com/search/?q=%22miracle%20cure%22"),
        ({"platform": "bluesky", "actor": "someone.bsky.social"}, "https://bsky.app/profile/someone.bsky.social"),
        ({"platform": "youtube", "channel_id": "UCsXVk37bltHxD1rDPwtNM8Q"}, "https://www.youtube.com/channel/UCsXVk37bltHxD1rDPwtNM8Q"),
        ({"platform": "youtube", "search": "guérison naturelle cancer"}, "https://www.youtube.com/results?search_query=gu%C3%A9rison%20naturelle%20cancer"),
        ({"platform": "feed", "url": "https://www.unadfi.org/feed/"}, "https://www.unadfi.org/feed/"),
        ({"platform": "peertube", "instance": "https://tube.example.fr/", "channel": "eveil@tube.example.fr"}, "https://tube.example.fr/video-channels/eveil@tube.example.fr"),
        ({"platform": "peertube", "instance": "https://tube.example.fr", "account": "guru"}, "https://tube.example.fr/accounts/guru"),
        ({"platform": "peertube", "instance": "https://tube.example.fr", "search": "guérison"}, "https://tube.example.fr/search?search=gu%C3%A9rison"),
        ({"platform": "odysee", "channel": "@geopolitique-profonde"}, "https://odysee.com/@geopolitique-profonde"),
        ({"platform": "odysee", "channel": "0de4444828156581df06501fe8bb22859f352ea6"}, None),
        ({"platform": "odysee", "text": "plandémie"}, "https://odysee.com/$/search?q=pland%C3%A9mie"),
        ({"platform": "imageboard", "board": "pol"}, "https://boards.4chan.org/pol/catalog"),
        ({"platform": "imageboard", "board": "qresearch", "api": "https://8kun.example", "layout": "vichan"}, "https://8kun.example/qresearch/"),
    ],
)
def test_source_links(source: dict, url: str) -> None:
    parsed = SourcesFile.model_validate({"sources": [{"id": "s", **source}]}).sources[0]
    assert source_url(parsed) == url


def test_a_post_card_says_why_the_post_was_tagged() -> None:
    def card() -> None:
        from datetime import UTC, datetime
        from zoneinfo import ZoneInfo

        from dashboard.render import post_card
        from tests.support.factories import make_post
        from vigie.models import TagMatch

        rule = "five-g NEAR/15 virus AND NOT debunk"
        text = "They say *5G* weakens the [immune system](https://evil.example)"
        matches = [
            TagMatch(narrative="anti-5g", term="5G", start=10, end=12, rule=rule, group="five-g"),
            TagMatch(narrative="anti-5g", term="immun*", start=27, end=33, rule=rule, group="virus"),
            TagMatch(narrative="qanon", term="deep state", start=0, end=4),
        ]
        post = make_post("p1", text, published_at=datetime(2024, 5, 1, tzinfo=UTC), narratives=["anti-5g", "qanon"], matches=matches)
        post_card(post, ZoneInfo("Europe/Paris"))

    from streamlit.testing.v1 import AppTest

    app = AppTest.from_function(card).run()
    assert not app.exception
    (caption,) = [element.value for element in app.caption]
    assert [_UNESCAPE.sub(r"\1", line) for line in caption.split("  \n")] == [
        'Why anti-5g: rule five-g NEAR/15 virus AND NOT debunk: five-g: "5G" · virus: "immun*"',
        'Why qanon: terms "deep state"',
    ]
    assert "evil.example" in _UNESCAPE.sub(r"\1", app.markdown[1].value) and "](" not in app.markdown[1].value  # the text stays inert
