"""Preloaded by the crawl launcher (scheduler/launcher.py) into the process every scheduled crawl is forked
from: the crawl stack is imported and the enrichment models are loaded there once, so each crawl starts warm.

It warms up on import only where the launcher asks for it (VIGIE_WARM_UP set, with VIGIE_CONFIG and
VIGIE_DATA_DIR), and never raises: a failure is one line in `REPORT` (the launcher logs it), and the crawls
then load what they need themselves, as a crawl started on its own does.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

WARM_UP_ENV = "VIGIE_WARM_UP"

SAMPLES = (
    "Bonjour à tous, merci #guérison https://www.example.co.uk/a?utm_source=x",
    "Hello everyone, thanks @someone",
    "Hallo zusammen, danke",
    "Привет всем, спасибо",
    "مرحبا بالجميع، شكرا",
    "Γεια σας, ευχαριστώ",
    "שלום לכולם, תודה",
    "大家好，谢谢",
    "こんにちは、ありがとう",
    "안녕하세요, 감사합니다",
    "सभी को नमस्ते, धन्यवाद",
    "The same long message reposted word for word by several channels of one campaign today",
)
"""Short texts in several scripts, a hashtag, a mention, a link, a long text: the language models are loaded
whole beforehand (`Detector.load`), enriching these loads the rest that loads on first use (tldextract's
public suffix list, compiled patterns, the first numpy calls)."""

CLASS_SETTINGS = (
    "SCHEDULER", "SCHEDULER_PRIORITY_QUEUE", "SCHEDULER_DISK_QUEUE", "SCHEDULER_MEMORY_QUEUE", "DUPEFILTER_CLASS",
    "STATS_CLASS", "LOG_FORMATTER", "DOWNLOADER", "REQUEST_FINGERPRINTER_CLASS", "SPIDER_LOADER_CLASS",
    "DOWNLOADER_HTTPCLIENTFACTORY", "DOWNLOADER_CLIENTCONTEXTFACTORY", "ITEM_PROCESSOR",
)
"""Scrapy settings naming a class every crawler loads (not TWISTED_REACTOR: each crawl installs its own)."""


@dataclass(frozen=True)
class WarmUp:
    cpu_seconds: float
    """CPU time of the launcher until it was warm (interpreter start, imports, models): paid once per `vigie up`."""
    error: str | None = None
    """Why it could not warm up, in one line; the crawls then load their models themselves."""
    models: tuple[str, ...] = ()
    """The language detectors whose models are loaded."""


def import_crawl_stack() -> None:
    """Scrapy, the spiders, Vigie's components and Scrapy's own, as a crawler loads them (no reactor installed)."""
    from scrapy.settings import Settings
    from scrapy.utils.misc import load_object, walk_modules_iter

    from crawlers import settings as project

    for module in ("crawlers.run", "vigie.cli.crawl", "store.sqlite"):
        importlib.import_module(module)
    list(walk_modules_iter("crawlers.spiders"))
    settings = Settings()
    settings.setmodule(project, priority="project")
    paths = [settings.get(name) for name in CLASS_SETTINGS]
    for name in ("DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "EXTENSIONS", "ITEM_PIPELINES"):
        paths.extend(settings.getwithbase(name))
    paths.extend(settings.getwithbase("DOWNLOAD_HANDLERS")[scheme] for scheme in ("http", "https"))
    for path in paths:
        if isinstance(path, str) and "." in path:
            load_object(path)
    if "twisted.internet.reactor" in sys.modules:
        raise RuntimeError("importing the crawl stack installed a Twisted reactor; crawls must install their own")


def load_enrichment_models() -> tuple[str, ...]:
    """Every language model of the configured settings, then the rest of the enrichment, on sample posts."""
    from enrich import Enricher
    from enrich.language import LOADED_IN
    from vigie.config import load_config
    from vigie.models import Author, Post

    enricher = Enricher.from_config(load_config())
    enricher.language.detector.load()
    author = Author(id="warm-up", handle="warm-up")
    published = datetime(2024, 1, 1, tzinfo=UTC)
    enricher.enrich([Post(platform="feed", native_id=str(number), source_id="warm-up", text=text, author=author, published_at=published) for number, text in enumerate(SAMPLES)])
    return tuple(sorted(LOADED_IN))


def warm_up() -> WarmUp:
    """Imports and models, then every object so far frozen out of the garbage collector's reach: the forked
    crawls neither scan them again nor, by touching them, copy the memory pages they share with the launcher."""
    try:
        import_crawl_stack()
        models = load_enrichment_models()
    except Exception as exc:  # the launcher must start whatever happens: crawls then load cold
        message = " ".join(str(exc).split()) or type(exc).__name__
        return WarmUp(time.process_time(), error=f"{type(exc).__name__}: {message}")
    finally:
        gc.freeze()
    return WarmUp(time.process_time(), models=models)


REPORT: WarmUp | None = warm_up() if os.environ.get(WARM_UP_ENV) else None
