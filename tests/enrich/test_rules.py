"""Watchlist rules: concept groups with AND, OR, NOT and NEAR/n, compiled into the watchlists' single pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from enrich.rules import RuleError, explain, parse
from enrich.watchlists import WatchlistMatcher, load_watchlists
from tests.cli.test_config import run_vigie
from tests.support.factories import write_config
from vigie.config import ConfigError

WATCHLIST = {
    "groups": {
        "five-g": ["5G", "5 G"],
        "virus": {"en": ["covid*", "coronavirus", "immune system", "pandemic"], "fr": ["covid*", "coronavirus", "épidémie"]},
        "debunk": {"en": ["no link", "debunked"], "fr": ["aucun lien"]},
        "lab": {"en": ["bioweapon", "lab"]},
    },
    "narratives": [
        {
            "id": "anti-5g",
            "label": "5G",
            "terms": {"en": ["5G kills"]},
            "rules": {
                "en": ["five-g NEAR/5 virus AND NOT debunk"],
                "fr": ["five-g NEAR/5s virus AND NOT debunk"],
            },
        },
        {
            "id": "lab-virus",
            "label": "Lab virus",
            "rules": {"en": ['(virus OR "the virus") NEAR/3 lab', '"man made" AND virus']},
        },
    ],
}


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory) -> WatchlistMatcher:
    folder = write_config(tmp_path_factory.mktemp("cfg"), watchlists={"test": WATCHLIST})
    return WatchlistMatcher(load_watchlists(folder / "watchlists"))


def narratives(matcher: WatchlistMatcher, text: str, title: str | None = None) -> list[str]:
    return matcher.tag(text, title).narratives


def test_near_counts_the_words_between(matcher: WatchlistMatcher) -> None:
    assert narratives(matcher, "5G weakens the immune system") == ["anti-5g"]
    assert narratives(matcher, "5G one two three four five covid") == ["anti-5g"]  # five words between: within 5
    assert narratives(matcher, "5G one two three four five six covid") == []
    assert narratives(matcher, "covid came when the 5G towers") == ["anti-5g"]  # either order


def test_not_cancels_the_rule_and_exclusion_words_anywhere_in_the_post(matcher: WatchlistMatcher) -> None:
    assert narratives(matcher, "There is no link: 5G does not cause covid.") == []


def test_group_terms_get_inflections_prefixes_and_hashtag_splitting(matcher: WatchlistMatcher) -> None:
    assert narratives(matcher, "#5g is causing #corona virus? No: #5Gcoronavirus") == ["anti-5g"]
    assert narratives(matcher, "the pandemics and 5G") == ["anti-5g"]  # English plural of a group term
    assert narratives(matcher, "5G and COVID19") == ["anti-5g"]  # `covid*` is a prefix
    assert narratives(matcher, "5G and covidiots") == ["anti-5g"]
    assert narratives(matcher, "5 G spreads the coronavirus") == ["anti-5g"]


def test_sentence_scope(tmp_path: Path) -> None:
    watchlist = {"groups": {"five-g": ["5G"], "virus": ["covid"]}, "narratives": [{"id": "n", "label": "N", "rules": {"fr": ["five-g NEAR/5s virus"]}}]}
    folder = write_config(tmp_path / "cfg", watchlists={"w": watchlist})
    matcher = WatchlistMatcher(load_watchlists(folder / "watchlists"))
    assert matcher.tag("La 5G propage le covid.").narratives == ["n"]
    assert matcher.tag("La 5G arrive. Le covid aussi.").narratives == []
    assert matcher.tag("La 5G arrive\nle covid aussi").narratives == []
    assert matcher.tag("La 5G (v. 2.0) propage le covid").narratives == ["n"]  # a full stop inside a sentence


def test_a_match_records_its_rule_groups_and_spans(matcher: WatchlistMatcher) -> None:
    text = "They say 5G weakens the immune system."
    tagging = matcher.tag(text)
    assert [(m.group, m.term, text[m.start : m.end], m.rule) for m in tagging.matches] == [
        ("five-g", "5G", "5G", "five-g NEAR/5 virus AND NOT debunk"),
        ("virus", "immune system", "immune system", "five-g NEAR/5 virus AND NOT debunk"),
    ]
    assert tagging.terms == ["5G", "immune system"]
    assert explain(tagging.matches) == {"anti-5g": 'rule five-g NEAR/5 virus AND NOT debunk: five-g: "5G" · virus: "immune system"'}


def test_terms_and_rules_of_one_narrative_explained_together(matcher: WatchlistMatcher) -> None:
    tagging = matcher.tag("5G kills. And 5G spreads covid.")
    assert explain(tagging.matches)["anti-5g"] == 'terms "5G kills"; rule five-g NEAR/5 virus AND NOT debunk: five-g: "5G" · virus: "covid*"'


def test_phrases_in_rules_and_or(matcher: WatchlistMatcher) -> None:
    assert narratives(matcher, "The virus came from a lab") == ["lab-virus"]
    assert narratives(matcher, "The virus was made in a lab") == []  # four words between, three allowed
    assert narratives(matcher, "It is man-made, this covid") == ["lab-virus"]
    assert narratives(matcher, "The lab is closed") == []


def test_title_and_text_are_not_near_each_other(matcher: WatchlistMatcher) -> None:
    assert narratives(matcher, "covid everywhere", title="5G") == []
    assert narratives(matcher, "covid and 5G", title="News") == ["anti-5g"]
    tagging = matcher.tag("nothing here", title="5G and covid")
    assert {m.field for m in tagging.matches} == {"title"}


def test_overlapping_hits_are_not_near_each_other(tmp_path: Path) -> None:
    watchlist = {
        "groups": {"elite": ["Agenda 21"], "plan": ["agenda"]},
        "narratives": [{"id": "nwo", "label": "NWO", "rules": {"en": ["elite NEAR/5 plan"]}}],
    }
    folder = write_config(tmp_path / "cfg", watchlists={"w": watchlist})
    matcher = WatchlistMatcher(load_watchlists(folder / "watchlists"))
    assert matcher.tag("Agenda 21 and local climate programmes").narratives == []
    assert matcher.tag("Agenda 21 is the agenda").narratives == ["nwo"]


def test_near_stays_linear_on_long_texts(matcher: WatchlistMatcher) -> None:
    text = " ".join(["5G covid filler filler filler filler filler filler filler"] * 3000)
    tagging = matcher.tag(text)
    assert tagging.narratives == ["anti-5g"]
    assert len(tagging.matches) == 6000


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("five-g NEAR virus", "NEAR needs a distance in words, such as NEAR/10"),
        ("five-g NEAR/ virus", "NEAR needs a distance"),
        ("five-g NEAR/0 virus", "between 1 and 200 words"),
        ("five-g near/3 virus", "operators are written in capitals (NEAR/3)"),
        ("five-g and virus", "operators are written in capitals (AND)"),
        ("(five-g OR virus", "missing closing parenthesis"),
        ("five-g virus", "join terms with AND, OR or NEAR/n"),
        ("NOT five-g", "true for posts that lack words"),
        ("five-g OR NOT virus", "true for posts that lack words"),
        ("five-g NEAR/3 NOT virus", "put NOT outside the NEAR"),
        ('five-g AND "', "unclosed quote"),
        ('five-g AND ""', "empty phrase"),
        ("Five-G AND virus", "is not a group name"),
        ("five-g AND", "ends where a group was expected"),
    ],
)
def test_parse_errors_say_what_to_write(rule: str, message: str) -> None:
    with pytest.raises(RuleError, match=None) as caught:
        parse(rule)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"rules": {"en": ["five-g NEAR/3 vaccine"]}}, "narratives[0].rules.en[0]: unknown group 'vaccine' (groups of this file: five-g, virus)"),
        ({"rules": {"de": ["five-g NEAR/3 virus"]}}, "narratives[0].rules.de[0]: group 'virus' has no terms in 'de' or `any`"),
        ({"rules": {"en": ["five-g NEAR virus"]}}, "narratives[0].rules.en[0]: NEAR needs a distance in words"),
    ],
    ids=["unknown group", "group without the rule's language", "NEAR without a distance"],
)
def test_vigie_check_names_file_line_and_rule(tmp_path: Path, change: dict, error: str) -> None:
    narrative = {"id": "n", "label": "N", **change}
    watchlist = {"groups": {"five-g": ["5G"], "virus": {"en": ["covid"]}}, "narratives": [narrative]}
    folder = write_config(tmp_path / "cfg", watchlists={"w": watchlist})
    result = run_vigie("--config", str(folder), "check")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "watchlists/w.yaml:" in line and error in line


@pytest.mark.parametrize(
    ("groups", "error"),
    [
        ({"empty": []}, "group 'empty' is empty"),
        ({"empty": {"en": []}}, "group 'empty' is empty"),
        ({"Bad Name": ["x"]}, "group name 'Bad Name'"),
        ({"g": ["*"]}, "has no letters or digits"),
        ({"g": ["va*ccin"]}, "`*` only at the end of a term"),
        ({"g": ["va*"]}, "`*` needs at least 3 letters right before it"),
    ],
)
def test_group_errors(tmp_path: Path, groups: dict, error: str) -> None:
    watchlist = {"groups": groups, "narratives": [{"id": "n", "label": "N", "terms": {"en": ["x"]}}]}
    folder = tmp_path / "watchlists"
    folder.mkdir()
    (folder / "w.yaml").write_text(yaml.safe_dump(watchlist), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_watchlists(folder)
    assert error in str(caught.value)
    assert str(caught.value).startswith(f"{folder / 'w.yaml'}:")
