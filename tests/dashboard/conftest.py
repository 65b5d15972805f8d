"""A real SQLite store seeded with posts, crawl runs, alerts and subscriptions, and a config folder naming its sources."""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass
from functools import cache
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from store.sqlite import SQLiteStore
from tests.support.factories import make_post, write_config
from alerts.candidates import post_features
from alerts.origin import arrivals
from vigie.models import Alert, Author, Candidate, CrawlError, CrawlRun, Engagement, Post, Subscription, TagMatch, utcnow

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
_MARKUP = re.compile(r"[`*_\\]+")


HOSTILE_TEXT = (
    "<script>alert('x')</script> [click](javascript:alert(1)) **bold** <img src=x onerror=alert(2)> "
    "&lt;b&gt; :red[red] :smile: $x^2$ miracle cure"
)
SOURCES = [
    {"id": "tg-healing", "platform": "telegram", "channel": "healing_channel", "tags": ["sante"]},
    {"id": "masto-complot", "platform": "mastodon", "instance": "https://mastodon.example", "hashtag": "complot"},
    {"id": "feed-broken", "platform": "feed", "url": "https://broken.example/feed"},
]

ALERT_RULES = {
    "rules": [
        {"id": "spike-narratives", "name": "Narrative spikes", "kind": "spike", "watch": {"narrative": "*"}},
        {"id": "emerging-terms", "kind": "emerging"},
    ],
    "subscriptions": [{"id": "desk", "email": "desk@example.org", "rules": ["spike-narratives"], "mode": "digest"}],
}
WATCHLIST = {
    "narratives": [
        {"id": "miracle_healing", "label": "Miracle healing", "terms": {"en": ["miracle cure"]}, "hashtags": ["#sante"]},
        {"id": "anti_vaccine", "label": "Anti-vaccine", "terms": {"fr": ["vaccin tueur"]}},
        {"id": "quantum_healing", "label": "Quantum healing", "terms": {"fr": ["guérison quantique"]}},
    ]
}


def shown_form(text: str) -> str:
    """Text as a page shows it, for comparing: markdown's marks dropped, whitespace collapsed."""
    return " ".join(_MARKUP.sub("", text).split())


@cache
def code_text() -> dict[str, str]:
    """The string statements of the dashboard's code (docstrings, notes after an assignment), as a page would
    show them if Streamlit's magic wrote one out: the start of each first line -> where it is in the code."""
    found = {}
    for path in sorted(APP.parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                first = shown_form(node.value.value.strip().splitlines()[0])[:60]
                if len(first) >= 20:
                    found[first] = f"{path.relative_to(APP.parents[1])}:{node.lineno}"
    return found


def code_shown(page_text: str) -> list[str]:
    """Where the code whose text `page_text` shows is (empty when a page shows none)."""
    shown = shown_form(page_text)
    return [where for text, where in code_text().items() if text in shown]


@dataclass
class Seeded:
    config_dir: Path
    db_path: Path
    now: datetime

    def store(self) -> SQLiteStore:
        return SQLiteStore(self.db_path)


def _posts(now: datetime) -> list[Post]:
    rng = random.Random(7)
    posts = []
    for index in range(240):
        source = SOURCES[index % 2]
        narrative = "miracle_healing" if index % 3 else "anti_vaccine"
        term = "miracle cure" if narrative == "miracle_healing" else "vaccin tueur"
        text = f"Post {index} about {term} and other words"
        start = text.index(term)
        posts.append(
            make_post(
                f"p{index}",
                text,
                platform=source["platform"],
                source_id=source["id"],
                author=Author(id=f"a{index % 9}", handle=f"author{index % 9}", name=f"Author {index % 9}"),
                published_at=now - timedelta(days=20) + timedelta(hours=rng.randrange(19 * 24)),
                url=f"https://example.org/post/{index}",
                language="fr" if index % 4 else "en",
                hashtags=["sante"] if index % 5 == 0 else [],
                domains=["example.org"] if index % 6 == 0 else [],
                tags=[*source.get("tags", []), term],
                narratives=[narrative],
                matches=[TagMatch(narrative=narrative, term=term, start=start, end=start + len(term))],
                cluster_id="copy-1" if index % 40 in (0, 1) else None,
            )
        )
    for index in range(30):  # a surge in the last hours, from many authors: a new narrative, and a known one spiking
        text = f"Guérison quantique {index}: the quantum healing protocol works, a miracle cure"
        posts.append(
            make_post(
                f"surge{index}",
                text,
                platform="telegram",
                source_id="tg-healing",
                author=Author(id=f"s{index}", handle=f"surger{index}"),
                published_at=now - timedelta(hours=1 + index % 5, minutes=index),
                language="fr",
                hashtags=["quantique"],
                tags=["guérison quantique", "miracle cure"],
                narratives=["quantum_healing", "miracle_healing"],
                matches=[
                    TagMatch(narrative="quantum_healing", term="guérison quantique", start=0, end=18),
                    TagMatch(narrative="miracle_healing", term="miracle cure", start=len(text) - 12, end=len(text)),
                ],
            )
        )
    posts.append(
        make_post(
            "hostile",
            HOSTILE_TEXT,
            platform="mastodon",
            source_id="masto-complot",
            author=Author(id="evil", handle="evil<script>", name="**Evil** [x](javascript:alert(3))"),
            published_at=now - timedelta(hours=2),
            url="javascript:alert(4)",
            title="<b>Title</b> [t](javascript:alert(5))",
            language="en",
            hashtags=["<script>"],
            narratives=["miracle_healing"],
            matches=[TagMatch(narrative="miracle_healing", term="miracle cure", start=len(HOSTILE_TEXT) - 12, end=len(HOSTILE_TEXT))],
        )
    )
    return posts


def _alerts(now: datetime) -> list[Alert]:
    return [
        Alert(
            id="spike:quantum_healing:1",
            rule_id="spike-narratives",
            kind="spike",
            subject_type="narrative",
            subject="quantum_healing",
            opened_at=now - timedelta(hours=1),
            updated_at=now - timedelta(hours=1),
            bucket_start=now - timedelta(hours=3),
            count=30,
            baseline=1.5,
            ratio=20.0,
            score=12.3,
            evidence={
                "rule_label": "Narrative spikes",
                "top_sources": [{"value": "tg-healing", "count": 30}],
                "top_authors": [{"value": "surger1", "count": 2}],
                "sample_post_ids": ["telegram:surge1", "mastodon:hostile"],
            },
        ),
        Alert(
            id="emerging:sante:1",
            rule_id="emerging-terms",
            kind="emerging",
            subject_type="hashtag",
            subject="sante",
            state="resolved",
            opened_at=now - timedelta(days=3),
            updated_at=now - timedelta(days=2),
            count=12,
            baseline=0.0,
            ratio=0.0,
        ),
    ]


def seed_candidate(seeded: Seeded) -> None:
    """Twelve posts of an unnamed narrative over three sources, and the candidate the alert cycle made of them."""
    sources = [("tg-healing", "telegram"), ("masto-complot", "mastodon"), ("feed-broken", "feed")]
    start = seeded.now - timedelta(hours=10)
    posts = [
        make_post(
            f"vouglans{n}",
            f"Le barrage de Vouglans va céder, ils le cachent ({n}) #verite_barrage",
            platform=sources[n % 3][1],
            source_id=sources[n % 3][0],
            author=Author(id=f"v{n}", handle=f"voice{n}"),
            published_at=start + timedelta(minutes=40 * n),
            hashtags=["verite_barrage"],
            language="fr",
            engagement=Engagement(shares=n),
        )
        for n in range(12)
    ]
    refs = [post_features(post).ref for post in posts]
    candidate = Candidate(
        id="cand-vouglans",
        terms=["barrage", "vouglans", "#verite_barrage"],
        posts=12,
        authors=12,
        baseline=0.2,
        growth=60.0,
        score=9.1,
        first_post_at=start,
        detected_at=seeded.now,
        updated_at=seeded.now,
        earliest=refs[:3],
        most_shared=refs[::-1][:3],
        sources={"tg-healing": 4, "masto-complot": 4, "feed-broken": 4},
        platforms={"telegram": 4, "mastodon": 4, "feed": 4},
        languages={"fr": 12},
        spread=arrivals(refs, "source"),
    )
    with seeded.store() as store:
        store.upsert_posts(posts)
        store.save_candidate(candidate)


@pytest.fixture
def clock(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The seed's "now": the real time, or a frozen one (parametrise with `indirect=True`), which the dashboard's
    clock then reads too, so a test can pin the time of day its counts depend on."""
    frozen = getattr(request, "param", None)
    if frozen is None:
        return utcnow()
    monkeypatch.setattr("dashboard.session.utcnow", lambda: frozen)
    monkeypatch.setattr("dashboard.queries.utcnow", lambda: frozen)
    return frozen


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: datetime) -> Seeded:
    config_dir = write_config(tmp_path / "config", sources=SOURCES, watchlists={"health": WATCHLIST})
    (config_dir / "alerts.yaml").write_text(yaml.safe_dump(ALERT_RULES), encoding="utf-8")
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    monkeypatch.setenv("VIGIE_CONFIG", str(config_dir))
    monkeypatch.setenv("VIGIE_DATA_DIR", str(data_dir))
    now = clock
    seeded = Seeded(config_dir=config_dir, db_path=data_dir / "vigie.db", now=now)
    with seeded.store() as store:
        store.upsert_posts(_posts(now))
        store.record_crawl_run(CrawlRun(id="r1", source_id="tg-healing", platform="telegram", started_at=now - timedelta(minutes=20), finished_at=now - timedelta(minutes=19), status="ok", new_posts=30))
        store.record_crawl_run(
            CrawlRun(
                id="r2",
                source_id="feed-broken",
                platform="feed",
                started_at=now - timedelta(minutes=30),
                finished_at=now - timedelta(minutes=30),
                status="failed",
                errors=[CrawlError(url="https://broken.example/feed", status=503, message="HTTP 503 from broken.example")],
            )
        )
        for alert in _alerts(now):
            store.save_alert(alert)
        store.save_subscription(Subscription(id="ana", email="ana@example.org", rules=["*"], mode="digest"))
    return seeded


@pytest.fixture
def app(seeded: Seeded) -> AppTest:
    """The dashboard, run once on its default page."""
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at
