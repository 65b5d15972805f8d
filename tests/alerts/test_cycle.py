"""Detection cycles against a real SQLite store: every rule kind, the re-alert policy, subscriptions and evidence."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.cycle import check, propose_candidates, run_cycle
from alerts.policy import Outcome
from store.base import PostQuery
from store.sqlite import SQLiteStore
from tests.alerts.posts import daily_life, surge, watch_post
from tests.support.factories import write_config
from vigie.config import Config, load_config
from tests.support.factories import make_post
from vigie.models import Author, CrawlError, CrawlRun, SavedSearch, Subscription

START = datetime(2024, 5, 1, tzinfo=UTC)
NOW = datetime(2024, 5, 16, 12, 5, tzinfo=UTC)
SOURCES = [
    {"id": "tg-eveil", "platform": "telegram", "channel": "eveil_test"},
    {"id": "masto-sante", "platform": "mastodon", "instance": "https://mastodon.example", "hashtag": "sante"},
    {"id": "rss-bienetre", "platform": "feed", "url": "https://bienetre.example/feed"},
]
SPIKES = {"id": "spikes", "kind": "spike", "watch": {"narrative": "*"}}


def configure(tmp_path: Path, rules: list[dict[str, Any]], subscriptions: list[dict[str, Any]] | None = None, sources: list[dict[str, Any]] = SOURCES) -> Config:
    folder = write_config(tmp_path / "config", sources=sources, settings={"dashboard": {"public_url": "http://vigie.test"}})
    body = {"rules": rules, "subscriptions": [{"email": "alice@example.org"}] if subscriptions is None else subscriptions}
    (folder / "alerts.yaml").write_text(yaml.safe_dump(body), encoding="utf-8")
    return load_config(folder, tmp_path / "data", environ={})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    (tmp_path / "data").mkdir()
    with SQLiteStore(tmp_path / "data" / "vigie.db") as opened:
        opened.record_crawl_run(CrawlRun(id="first", source_id="tg-eveil", platform="telegram", started_at=START, finished_at=START, status="ok"))
        opened.upsert_posts(daily_life("miracle_healing", START, NOW + timedelta(days=2), hashtags=("guerison",)))
        yield opened


def actions(outcomes: list[Outcome]) -> list[tuple[str, str, str]]:
    return sorted((o.action, o.alert.kind, o.alert.subject) for o in outcomes)


def queued(store: SQLiteStore, now: datetime = NOW + timedelta(days=3)) -> list[str]:
    return [message.id for message in store.due_messages(now, limit=1000)]


def test_no_surge_no_alert(tmp_path: Path, store: SQLiteStore) -> None:
    config = configure(tmp_path, [SPIKES])
    assert run_cycle(config, store, NOW) == []
    assert (tmp_path / "data" / "trends.json").exists()


def test_surge_grows_then_fades_then_comes_back(tmp_path: Path, store: SQLiteStore) -> None:
    config = configure(tmp_path, [SPIKES])
    store.upsert_posts(surge("miracle_healing", NOW - timedelta(hours=1, minutes=5), posts=25, authors=15))
    opened = check(config, store, NOW)
    assert actions(opened) == [("opened", "spike", "miracle_healing")]
    first_ratio = opened[0].alert.ratio

    store.upsert_posts(surge("miracle_healing", NOW - timedelta(minutes=5), posts=5 * 25, authors=60, prefix="bigger"))
    grown = check(config, store, NOW + timedelta(hours=1))
    assert actions(grown) == [("escalated", "spike", "miracle_healing")]
    assert grown[0].alert.ratio >= 2 * first_ratio and grown[0].alert.notified_ratio == grown[0].alert.ratio
    assert len(queued(store)) == 2, "one email when it opened, one when it doubled"

    assert actions(check(config, store, NOW + timedelta(hours=1, minutes=5))) == [("ongoing", "spike", "miracle_healing")]
    quiet = NOW + timedelta(hours=8)
    assert actions(check(config, store, quiet)) == [("resolved", "spike", "miracle_healing")]
    assert check(config, store, quiet + timedelta(minutes=5)) == []

    comeback = quiet + timedelta(hours=3)
    store.upsert_posts(surge("miracle_healing", comeback - timedelta(hours=1, minutes=5), posts=40, authors=20, prefix="again"))
    again = check(config, store, comeback)
    assert actions(again) == [("opened", "spike", "miracle_healing")]
    assert len(store.list_alerts()) == 2 and len(queued(store)) == 3


def test_evidence_names_sources_authors_and_samples(tmp_path: Path, store: SQLiteStore) -> None:
    config = configure(tmp_path, [SPIKES])
    store.upsert_posts(surge("miracle_healing", NOW - timedelta(hours=1, minutes=5), posts=30, authors=12))
    [alert] = run_cycle(config, store, NOW)
    evidence = alert.evidence
    assert alert.bucket_start == datetime(2024, 5, 16, 11, tzinfo=UTC) and alert.count >= 30 and alert.score > 6
    assert {s["value"] for s in evidence["top_sources"]} == {"tg-eveil", "masto-sante", "rss-bienetre"}
    assert evidence["top_authors"][0]["count"] >= 2 and len(evidence["top_authors"]) == 5
    assert len(evidence["sample_post_ids"]) == 5 and all(store.get_post(i) for i in evidence["sample_post_ids"])
    assert evidence["query"]["narratives"] == ["miracle_healing"]
    first = store.search(PostQuery(narratives=("miracle_healing",), since=alert.bucket_start - timedelta(hours=72), sort="oldest", limit=1)).posts[0]
    assert evidence["origin"]["first"]["id"] == first.id and evidence["origin"]["sources"] == 3
    assert [e.action for e in alert.history] == ["opened", "notified"] and alert.history[-1].comment == "alice@example.org"


def test_candidate_narratives_are_proposed_once_an_hour_and_keep_their_id(tmp_path: Path, store: SQLiteStore) -> None:
    config = configure(tmp_path, [SPIKES])
    start = NOW - timedelta(hours=8)
    planted = [
        make_post(f"cand-{n}", f"Le protocole Azurite commence, stockez la thalassine ({n})", platform="feed", source_id=SOURCES[n % 3]["id"], published_at=start + n * timedelta(minutes=25), author=Author(id=f"v{n}", handle=f"v{n}"), hashtags=["azurite"])
        for n in range(14)
    ]
    store.upsert_posts(planted)
    check(config, store, NOW)
    [candidate] = store.list_candidates()
    assert {"#azurite", "protocole", "thalassine"} <= set(candidate.terms) and candidate.posts == 14
    assert candidate.first_post_at == start and set(candidate.sources) == {"tg-eveil", "masto-sante", "rss-bienetre"}
    assert propose_candidates(config, store, NOW + timedelta(minutes=5)) == [], "once an hour"
    store.upsert_posts([planted[0].model_copy(update={"native_id": "cand-late", "id": "feed:cand-late", "published_at": NOW + timedelta(minutes=10)})])
    [again] = propose_candidates(config, store, NOW + timedelta(hours=1))
    assert again.id == candidate.id and again.posts == 15 and again.detected_at == candidate.detected_at


def test_emerging_hashtag_but_not_one_account_repeating(tmp_path: Path, store: SQLiteStore) -> None:
    config = configure(tmp_path, [{"id": "new-tags", "kind": "emerging", "fields": ["hashtag"]}])
    day = NOW - timedelta(hours=20)
    store.upsert_posts([watch_post(f"new-{n}", "miracle_healing", day + n * timedelta(minutes=50), f"voice{n % 7}", hashtags=("reveilquantique",)) for n in range(16)])
    store.upsert_posts([watch_post(f"spam-{n}", "miracle_healing", day + n * timedelta(minutes=10), "spammer", hashtags=("achetezmoncristal",)) for n in range(60)])
    [alert] = run_cycle(config, store, NOW)
    assert (alert.kind, alert.subject_type, alert.subject) == ("emerging", "hashtag", "reveilquantique")
    assert alert.count == 16 and alert.evidence["authors"] == 7 and alert.evidence["baseline_count"] == 0
    assert alert.bucket_start == day.replace(minute=0)


def test_silent_and_failing_sources(tmp_path: Path, store: SQLiteStore) -> None:
    quiet = {"id": "forum-quiet", "platform": "feed", "url": "https://quiet.example/feed"}
    config = configure(tmp_path, [{"id": "blind", "kind": "source_silent"}], sources=[*SOURCES, quiet])
    last_post = NOW - timedelta(days=3)
    store.upsert_posts([watch_post(f"quiet-{n}", "end_times", last_post - n * timedelta(hours=8), "prophet", source="forum-quiet") for n in range(40)])
    for n in range(3):
        error = CrawlError(url="https://mastodon.example/api/v1/timelines/tag/sante", status=503, message=f"HTTP 503 (attempt {n})")
        store.record_crawl_run(CrawlRun(id=f"fail-{n}", source_id="masto-sante", platform="mastodon", started_at=NOW - timedelta(hours=3 - n), status="failed", errors=[error]))
    found = {a.subject: a for a in run_cycle(config, store, NOW)}
    assert set(found) == {"forum-quiet", "masto-sante"}, "sources that post and crawl fine are not reported"
    failing, silent = found["masto-sante"], found["forum-quiet"]
    assert failing.evidence["reason"] == "failing" and failing.evidence["last_error"] == "HTTP 503 (attempt 2)"
    assert silent.evidence["reason"] == "quiet" and silent.evidence["last_post_at"] == last_post.isoformat()
    assert silent.evidence["usual_daily_posts"] >= 1 and silent.bucket_start == last_post
    assert {a.subject for a in run_cycle(config, store, last_post + timedelta(days=1))} == {"masto-sante"}, "one day of silence is not two"


def test_saved_search_and_inline_query_rules(tmp_path: Path, store: SQLiteStore) -> None:
    store.save_search(SavedSearch(id="cure-video", name="Cure video", query={"text": "video miracle", "sources": ["tg-eveil"]}))
    rules = [
        {"id": "saved", "kind": "spike", "watch": {"search": "cure-video"}},
        {"id": "inline", "kind": "spike", "watch": {"query": {"text": "video miracle"}}},
        {"id": "missing", "kind": "spike", "watch": {"search": "deleted-search"}},
    ]
    config = configure(tmp_path, rules)
    for hours_back in range(24 * 14, 2, -6):
        store.upsert_posts([watch_post(f"base-{hours_back}-{k}", "miracle_healing", NOW - timedelta(hours=hours_back, minutes=k), f"old{k}", text="une video miracle de plus", source="tg-eveil") for k in range(2)])
    store.upsert_posts([watch_post(f"vid-{n}", "miracle_healing", NOW - timedelta(minutes=60 - n), f"viewer{n}", text="Regardez cette video miracle qui guérit tout", source="tg-eveil") for n in range(30)])
    found = {(a.rule_id, a.subject_type, a.subject) for a in run_cycle(config, store, NOW)}
    assert found >= {("saved", "search", "cure-video"), ("inline", "search", "inline")}
    assert not any(rule == "missing" for rule, _, _ in found)


def test_a_subscribed_saved_search_alerts_without_a_rule_in_alerts_yaml(tmp_path: Path, store: SQLiteStore) -> None:
    store.save_search(SavedSearch(id="cure-video", name="Cure video", query={"text": "video miracle", "sources": ["tg-eveil"]}))
    store.save_search(SavedSearch(id="unsubscribed", name="Nobody listens", query={"text": "video"}))
    store.save_subscription(Subscription(id="bob", email="bob@example.org", rules=["search-cure-video"]))
    config = configure(tmp_path, [], subscriptions=[])
    for hours_back in range(24 * 14, 2, -6):
        store.upsert_posts([watch_post(f"base-{hours_back}-{k}", "miracle_healing", NOW - timedelta(hours=hours_back, minutes=k), f"old{k}", text="une video miracle de plus", source="tg-eveil") for k in range(2)])
    store.upsert_posts([watch_post(f"vid-{n}", "miracle_healing", NOW - timedelta(minutes=60 - n), f"viewer{n}", text="Regardez cette video miracle qui guérit tout", source="tg-eveil") for n in range(30)])
    [opened] = check(config, store, NOW)
    alert = opened.alert
    assert (opened.action, alert.rule_id, alert.subject_type, alert.subject) == ("opened", "search-cure-video", "search", "cure-video")
    assert alert.evidence["rule_label"] == "Cure video" and alert.count >= 30
    assert [(m.recipient, m.id) for m in store.due_messages(NOW + timedelta(days=3), limit=10)] == [("bob@example.org", f"alert:{alert.id}:0:bob")]
    store.delete_subscription("bob")
    assert check(config, store, NOW + timedelta(minutes=5)) == [], "nobody subscribed: the search is not watched"


def test_replaying_a_cycle_is_idempotent(tmp_path: Path, store: SQLiteStore) -> None:
    config = configure(tmp_path, [SPIKES])
    store.upsert_posts(surge("miracle_healing", NOW - timedelta(hours=1, minutes=5), posts=25, authors=15))
    check(config, store, NOW)
    assert actions(check(config, store, NOW)) == [("ongoing", "spike", "miracle_healing")]
    assert len(queued(store)) == 1 and len(store.list_alerts()) == 1


def test_acknowledged_alert_stays_acknowledged_while_the_surge_goes_on(tmp_path: Path, store: SQLiteStore) -> None:
    config = configure(tmp_path, [SPIKES])
    store.upsert_posts(surge("miracle_healing", NOW - timedelta(hours=1, minutes=5), posts=25, authors=15))
    [alert] = run_cycle(config, store, NOW)
    store.save_alert(alert.model_copy(update={"state": "acknowledged"}))
    [still] = run_cycle(config, store, NOW + timedelta(minutes=10))
    assert still.state == "acknowledged" and len(queued(store)) == 1


def test_no_rules_file_means_no_alerts(tmp_path: Path, store: SQLiteStore) -> None:
    folder = write_config(tmp_path / "bare", sources=SOURCES)
    store.upsert_posts(surge("miracle_healing", NOW - timedelta(hours=1, minutes=5), posts=50, authors=30))
    assert run_cycle(load_config(folder, tmp_path / "data", environ={}), store, NOW) == []
