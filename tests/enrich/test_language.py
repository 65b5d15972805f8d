from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrich import Enricher
from enrich.language import (
    MAX_CHARS,
    UNDETERMINED,
    FastTextDetector,
    LangdetectDetector,
    LanguageIdentifier,
    base_language,
    clean_for_language,
    language_text,
    truncate,
)
from tests.support.factories import write_config
from vigie.config import ConfigError, LanguageSettings, load_config

LANGID = Path(__file__).resolve().parents[1] / "fixtures" / "langid"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("merci beaucoup", "fr"),
        ("Guten Morgen zusammen", "de"),
        ("obrigado amigo", "pt"),
        ("Спасибо большое", "ru"),
        ("شكرا جزيلا", "ar"),
        ("buenos días amigos", "es"),
        ("Bonjour à tous, la réunion de l'association aura lieu jeudi soir à la salle des fêtes comme prévu.", "fr"),
        ("The council met on Tuesday and agreed to extend the opening hours of the public library next year.", "en"),
        ("Il consiglio comunale ha approvato ieri sera il nuovo piano per il traffico del centro storico.", "it"),
        ("De gemeenteraad heeft gisteravond het nieuwe plan voor het verkeer in het centrum goedgekeurd.", "nl"),
        ("Rada miasta przyjęła wczoraj wieczorem nowy plan ruchu drogowego dla centrum.", "pl"),
    ],
)
def test_short_and_long_texts_in_several_languages(identifier: LanguageIdentifier, text: str, expected: str) -> None:
    detection = identifier.identify(text)
    assert detection.language == expected
    assert 0 < detection.confidence <= 1


@pytest.mark.parametrize(
    "text",
    ["😀🔥🙏", "https://example.com/a https://example.org/b?x=1", "😀 https://t.co/abc #wow @bob 2024", "@alice @bob", "12/05/2024 18:30", "ok", ""],
)
def test_emoji_links_and_noise_only_are_undetermined(identifier: LanguageIdentifier, text: str) -> None:
    assert identifier.identify(text).language == UNDETERMINED


def test_cleaning_removes_what_says_nothing_about_the_language() -> None:
    cleaned = clean_for_language("🔥 Lisez ça https://ex.com/x?a=1 @jean #Plandemie 12h30 👉 maintenant !!!")
    assert cleaned == "Lisez ça maintenant !!!"


def test_platform_language_breaks_a_tie_on_short_text(identifier: LanguageIdentifier) -> None:
    assert identifier.identify("hello").language != "en"
    agreed = identifier.identify("hello", platform_language="en")
    assert agreed.language == "en"
    assert 0 < agreed.confidence < 1


def test_platform_language_cannot_override_a_clear_text(identifier: LanguageIdentifier) -> None:
    text = "Ceci est une phrase nettement plus longue, écrite en français du début à la fin."
    assert identifier.identify(text, platform_language="en").language == "fr"
    assert identifier.identify(text, platform_language="fr-FR").language == "fr"


def test_platform_codes_are_reduced_to_the_base_language() -> None:
    assert [base_language(code) for code in ("en-US", "pt_BR", "FR", "und", "", None)] == ["en", "pt", "fr", None, None, None]


def test_too_short_after_cleaning_is_undetermined_even_when_declared(identifier: LanguageIdentifier) -> None:
    assert identifier.identify("👍 #ok", platform_language="en").language == UNDETERMINED


@pytest.mark.parametrize("detector", ["fasttext", "lingua", "langdetect"])
def test_every_detector_is_selectable_and_deterministic(detector: str) -> None:
    identifier = LanguageIdentifier.from_settings(LanguageSettings(detector=detector))
    text = "La réunion de l'association aura lieu jeudi soir à la salle des fêtes."
    first = identifier.identify(text)
    assert first.language == "fr"
    assert all(identifier.identify(text) == first for _ in range(5))


def test_langdetect_gives_the_same_answer_in_two_instances_with_one_seed() -> None:
    texts = ["ciao a tutti", "bom dia", "hej hej", "dobry wieczór", "guten tag"]
    first, second = LangdetectDetector(seed=7), LangdetectDetector(seed=7)
    assert [first.rank(t) for t in texts] == [second.rank(t) for t in texts]


def test_unknown_language_codes_are_a_config_error(tmp_path: Path) -> None:
    folder = write_config(tmp_path / "cfg", settings={"enrich": {"language": {"languages": ["fr", "xx"]}}})
    with pytest.raises(ConfigError, match=r"vigie\.yaml: enrich\.language\.languages: lingua needs two or more ISO 639-1 codes it knows \(unknown: xx\)"):
        Enricher.from_config(load_config(folder, tmp_path / "data"))


def test_one_detector_per_process_for_the_settings_that_shape_its_models() -> None:
    first = LanguageIdentifier.from_settings(LanguageSettings(detector="lingua", languages=["fr", "en"]))
    again = LanguageIdentifier.from_settings(LanguageSettings(detector="lingua", languages=["fr", "en"], min_confidence=0.5))
    other = LanguageIdentifier.from_settings(LanguageSettings(detector="lingua", languages=["fr", "de"]))
    assert again.detector is first.detector  # its models are loaded once (the crawl launcher loads them before forking)
    assert other.detector is not first.detector
    assert other.identify("Guten Morgen zusammen").language == "de"
    assert first.identify("Guten Morgen zusammen").language != "de"  # German is not among its languages


def test_models_can_be_loaded_again_in_a_process_forked_after_a_preload() -> None:
    """A crawl forked from the warm launcher: lingua's preloading thread pool did not survive the fork."""
    LanguageIdentifier.from_settings(LanguageSettings(detector="lingua", languages=["fr", "en"])).detector.load()
    pid = os.fork()
    if pid == 0:
        try:
            identifier = LanguageIdentifier.from_settings(LanguageSettings(detector="lingua", languages=["de", "es", "ru"]))
            identifier.detector.load()
            os._exit(0 if identifier.identify("Guten Morgen zusammen").language == "de" else 1)
        finally:
            os._exit(2)
    deadline = time.monotonic() + 60
    while not (done := os.waitpid(pid, os.WNOHANG))[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    if not done[0]:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked process hung loading lingua's models")
    assert os.waitstatus_to_exitcode(done[1]) == 0


NOISY_WORDS = st.lists(st.sampled_from(["réunion", "jeudi", "#Plandemie", "@jean", "https://ex.com/a?b=1", "www.Site.org", "12h30", "2024", "👉", "!!!", "l'éveil", "a", "\n", "  "]))


@settings(max_examples=300, deadline=None)
@given(NOISY_WORDS)
def test_a_long_post_cleaned_a_slice_at_a_time_reads_as_cleaned_whole(words: list[str]) -> None:
    text = " ".join(words * 12)
    assert language_text(text) == truncate(clean_for_language(truncate(text, 3 * MAX_CHARS)))


def test_asking_fasttext_for_its_best_language_alone_gives_its_first_of_five() -> None:
    """The identifier asks for one candidate when no language is declared: the same answer, with the same score."""
    detector = FastTextDetector()
    texts = [line for path in sorted(LANGID.glob("*/*.txt")) for line in path.read_text(encoding="utf-8").splitlines()[:40] if line.strip()]
    assert len(texts) > 1000
    assert [detector.rank(text, 1) for text in texts] == [detector.rank(text)[:1] for text in texts]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LA RÉUNION AURA LIEU JEUDI SOIR À LA SALLE DES FÊTES", "fr"),
        ("ÜBERALL WIRD DIE WAHRHEIT UNTERDRÜCKT, WACHT ENDLICH AUF", "de"),
        ("ПРАВДУ СКРЫВАЮТ ОТ НАС ВСЕХ", "ru"),
    ],
)
def test_posts_in_capitals_are_read_in_lower_case(text: str, expected: str) -> None:
    """All-caps posts, with accents or in another script, are lower-cased before fastText reads them."""
    detector = FastTextDetector()
    assert detector.rank(text)[0][0] == expected
    assert detector.rank(text) == detector.rank(text.lower())
