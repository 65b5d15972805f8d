from __future__ import annotations

import os
from pathlib import Path

import pytest

from enrich.watchlists import WatchlistMatcher, load_watchlists, watchlist_matcher
from tests.support.factories import write_config
from vigie.config import ConfigError

WATCHLIST = {
    "narratives": [
        {
            "id": "conspiracy",
            "label": "Conspiracy",
            "terms": {"fr": ["plandémie", "grand reset", "rupture familiale", "secte"], "en": ["great reset", "miracle cure", "qanon"]},
            "hashtags": ["#WWG1WGA"],
            "patterns": [r"\bprotocoles? mms\b"],
            "exclude": ["fact-check"],
        },
        {
            "id": "healing",
            "label": "Healing",
            "terms": {"fr": ["guérisseur", "médecine quantique", "décodage biologique", "cœur brisé", "=CDS"]},
        },
    ]
}


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory) -> WatchlistMatcher:
    folder = write_config(tmp_path_factory.mktemp("cfg"), watchlists={"test": WATCHLIST})
    return WatchlistMatcher(load_watchlists(folder / "watchlists"))


def found(matcher: WatchlistMatcher, text: str, title: str | None = None) -> list[tuple[str, str, str]]:
    """(narrative, term, matched text) for each match."""
    tagging = matcher.tag(text, title)
    return [(m.narrative, m.term, (title if m.field == "title" else text)[m.start : m.end]) for m in tagging.matches]


def test_accents_and_case_are_folded(matcher: WatchlistMatcher) -> None:
    assert found(matcher, "La PLANDEMIE continue") == [("conspiracy", "plandémie", "PLANDEMIE")]
    assert found(matcher, "séance de Medecine Quantique") == [("healing", "médecine quantique", "Medecine Quantique")]


def test_spans_point_into_the_original_text_across_ligatures(matcher: WatchlistMatcher) -> None:
    text = "Œuvre d'un « Cœur  Brisé » 💔"
    assert found(matcher, text) == [("healing", "cœur brisé", "Cœur  Brisé")]
    assert found(matcher, "un coeur brise") == [("healing", "cœur brisé", "coeur brise")]


def test_plural_and_feminine_forms(matcher: WatchlistMatcher) -> None:
    assert found(matcher, "Deux guérisseuses et des guérisseurs") == [("healing", "guérisseur", "guérisseuses"), ("healing", "guérisseur", "guérisseurs")]
    assert found(matcher, "Miracle cures for everyone") == [("conspiracy", "miracle cure", "Miracle cures")]
    assert found(matcher, "des ruptures familiales") == [("conspiracy", "rupture familiale", "ruptures familiales")]


def test_exact_terms_get_no_inflection(matcher: WatchlistMatcher) -> None:
    assert found(matcher, "le CDS arrive") == [("healing", "=CDS", "CDS")]
    assert found(matcher, "les CDSe arrivent") == []


def test_hashtags_are_split_into_words(matcher: WatchlistMatcher) -> None:
    assert found(matcher, "#GreatReset now") == [("conspiracy", "great reset", "GreatReset")]
    assert found(matcher, "non au #stopgrandreset") == [("conspiracy", "grand reset", "grandreset")]
    assert found(matcher, "#plandémie") == [("conspiracy", "plandémie", "plandémie")]
    assert found(matcher, "#QAnonIsReal") == [("conspiracy", "qanon", "QAnon")]
    assert found(matcher, "#wwg1wga!") == [("conspiracy", "#WWG1WGA", "#wwg1wga")]


def test_hashtag_entries_match_only_as_hashtags(matcher: WatchlistMatcher) -> None:
    assert found(matcher, "wwg1wga") == []


def test_multi_word_phrases_across_punctuation_and_lines(matcher: WatchlistMatcher) -> None:
    assert found(matcher, "Formation en décodage-biologique") == [("healing", "décodage biologique", "décodage-biologique")]
    assert found(matcher, "une rupture\nfamiliale") == [("conspiracy", "rupture familiale", "rupture\nfamiliale")]
    assert found(matcher, "une rupture avec la famille") == []


def test_no_match_inside_another_word(matcher: WatchlistMatcher) -> None:
    assert found(matcher, "le secteur sectaire, les insectes") == []
    assert found(matcher, "#secteur") == []
    assert found(matcher, "#unhashtagbeaucouptroplongpourcontenirquoiquecesoit") == []
    assert found(matcher, "greatresetting plandemiques") == []


def test_exclusion_cancels_the_narrative_in_the_post(matcher: WatchlistMatcher) -> None:
    assert found(matcher, "Fact-check: the great reset is not a plot, says a guérisseur") == [("healing", "guérisseur", "guérisseur")]
    assert matcher.tag("Fact-check: the great reset").narratives == []


def test_patterns_match_the_lower_cased_text_with_spans_in_the_original(matcher: WatchlistMatcher) -> None:
    assert found(matcher, "Le Protocole MMS contre tout") == [("conspiracy", r"\bprotocoles? mms\b", "Protocole MMS")]
    assert found(matcher, "envoie-moi un MMS") == []


def test_upper_case_patterns_are_refused_with_the_reason(tmp_path: Path) -> None:
    folder = tmp_path / "watchlists"
    folder.mkdir()
    (folder / "w.yaml").write_text("narratives:\n  - id: x\n    label: X\n    patterns: ['\\bMMS\\b\\W', '(?P<Name>ok)']\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"w\.yaml:4: narratives\[0\]\.patterns: .*has upper-case letters: patterns are matched on the lower-cased text"):
        load_watchlists(folder)


def test_title_matches_keep_their_field(matcher: WatchlistMatcher) -> None:
    tagging = matcher.tag("rien ici", title="La plandémie")
    assert [(m.field, m.start, m.end) for m in tagging.matches] == [("title", 3, 12)]
    assert tagging.narratives == ["conspiracy"]
    assert tagging.terms == ["plandémie"]


def test_bad_regex_names_file_line_and_key(tmp_path: Path) -> None:
    folder = tmp_path / "watchlists"
    folder.mkdir()
    (folder / "bad.yaml").write_text("narratives:\n  - id: x\n    label: X\n    patterns:\n      - '(unclosed'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_watchlists(folder)
    assert str(caught.value).startswith(f"{folder / 'bad.yaml'}:4: narratives[0].patterns: pattern '(unclosed' is not a valid regular expression")


def test_unknown_key_and_duplicate_ids_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "watchlists"
    folder.mkdir()
    (folder / "a.yaml").write_text("narratives:\n  - id: x\n    label: X\n    term:\n      fr: [a]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"a\.yaml:4: narratives\[0\]\.term: unknown key"):
        load_watchlists(folder)
    (folder / "a.yaml").write_text("narratives:\n  - id: x\n    label: X\n    terms: {fr: [a]}\n", encoding="utf-8")
    (folder / "b.yaml").write_text("narratives:\n  - id: x\n    label: Y\n    terms: {en: [b]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"b\.yaml: narrative id 'x' is already defined in .*a\.yaml"):
        load_watchlists(folder)


def test_default_watchlists_cover_the_documented_narratives(default_matcher: WatchlistMatcher) -> None:
    narratives = {n.id: n for w in default_matcher.watchlists for n in w.narratives}
    assert {"miracle-cures", "biologie-totale", "quantum-medicine", "breatharianism", "mms-chlorine-dioxide", "anti-cancer-fasting",
            "spiritual-awakening", "channeling", "qanon", "new-world-order", "great-reset", "plandemic", "chemtrails", "anti-5g",
            "sovereign-citizens", "psychological-hold"} <= set(narratives)
    assert all(n.terms.get("fr") and n.terms.get("en") for n in narratives.values())
    examples = {
        "Formation en Biologie Totale ce week-end": "biologie-totale",
        "Il vit de lumière depuis des mois, c'est le pranisme": "breatharianism",
        "Ma sœur est sous l'emprise d'un gourou": "psychological-hold",
        "Ils nous aspergent : #chemtrails partout": "chemtrails",
        "Les citoyens souverains ne paient pas d'impôts": "sovereign-citizens",
    }
    for text, narrative in examples.items():
        assert narrative in default_matcher.tag(text).narratives, text
    assert default_matcher.tag("L'emprise au sol du bâtiment dépasse le PLU").narratives == []


def test_the_matcher_of_a_folder_is_built_again_only_when_a_file_changed(tmp_path: Path) -> None:
    folder = write_config(tmp_path, watchlists={"test": WATCHLIST}) / "watchlists"
    first = watchlist_matcher(folder)
    assert watchlist_matcher(folder) is first
    path = folder / "test.yaml"
    stat = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace("secte", "sekte"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same time: only the content tells
    second = watchlist_matcher(folder)
    assert second is not first
    assert [m.term for m in second.tag("une sekte").matches] == ["sekte"]
    (folder / "more.yaml").write_text("narratives:\n  - id: more\n    label: More\n    terms: {en: [gaslighting]}\n", encoding="utf-8")
    assert watchlist_matcher(folder).tag("gaslighting").narratives == ["more"]


@pytest.mark.parametrize(
    ("language", "term", "text"),
    [
        ("es", "vacuna asesina", "Las VACUNAS ASESINAS ya están aquí"),
        ("es", "ciudadano soberano", "somos ciudadanas soberanas"),
        ("it", "vaccino killer", "i vaccini killer"),
        ("it", "medico alternativo", "le mediche alternative"),
        ("pt", "injeção letal", "as injeções letais"),
        ("pt", "cidadão soberano", "cidadãos soberanos"),
        ("de", "tiefe Staat", "gegen den tiefen Staat"),
        ("de", "Impfung", "nach den Impfungen"),
        ("nl", "gifprik", "die gifprikken"),
        ("nl", "nieuwe wereldorde", "de nieuwe wereldordes"),
    ],
)
def test_inflections_in_the_five_more_languages(tmp_path: Path, language: str, term: str, text: str) -> None:
    folder = write_config(tmp_path / "cfg", watchlists={"w": {"narratives": [{"id": "n", "label": "N", "terms": {language: [term]}}]}})
    assert WatchlistMatcher(load_watchlists(folder / "watchlists")).tag(text).narratives == ["n"]
