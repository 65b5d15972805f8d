"""`vigie store copy` and `vigie store init`, with real SQLite files and the loopback `FakeElasticsearch`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from store.copy import Checkpoint
from store.spool import Spool
from store.sqlite import SQLiteStore
from tests.store.test_spool import FakeElasticsearch, closed_port
from tests.support.factories import make_post, write_config
from vigie.cli import cli
from vigie.models import Alert, CrawlRun, OutboxMessage, SavedSearch, Subscription

START = datetime(2024, 3, 1, tzinfo=UTC)


def vigie(tmp_path: Path, *args: str, es_url: str | None = None, backend: str = "sqlite") -> Result:
    config = write_config(
        tmp_path / "config",
        sources=[{"id": "feed-a", "platform": "feed", "url": "https://example.org/feed.xml"}],
        settings={"store": {"elasticsearch": {"concurrency": 1, "max_retries": 0, "replicas": 0, "request_timeout": 5}}},
    )
    env = {"VIGIE_STORE": backend, **({"VIGIE_ES_URL": es_url} if es_url else {})}
    return CliRunner().invoke(cli, ["--config", str(config), "--data-dir", str(tmp_path / "data"), *args], env=env, catch_exceptions=False)


def fill(path: Path, posts: int) -> SQLiteStore:
    """An embedded store with `posts` posts an hour apart, and one record of every other kind."""
    store = SQLiteStore(path)
    first_seen = datetime(2024, 6, 1, tzinfo=UTC)
    store.upsert_posts(
        make_post(f"{n}", f"guérison numéro {n}", source_id="feed-a", published_at=START + timedelta(hours=n), first_seen_at=first_seen) for n in range(posts)
    )
    store.record_crawl_run(CrawlRun(id="run-1", source_id="feed-a", platform="feed", started_at=START, status="ok", new_posts=posts))
    store.set_cursor("feed-a", {"etag": "W/1"})
    store.save_alert(Alert(id="a1", rule_id="r", kind="spike", subject_type="narrative", subject="healing", opened_at=START, updated_at=START))
    store.save_subscription(Subscription(id="s1", email="analyst@example.org"))
    store.save_search(SavedSearch(id="q1", name="healing", query={"narratives": ["healing"]}))
    store.enqueue(OutboxMessage(id="m1", recipient="analyst@example.org", subject="spike"))
    return store


def test_copy_between_embedded_stores_moves_posts_and_records(tmp_path: Path) -> None:
    fill(tmp_path / "a.db", posts=25).close()
    result = vigie(tmp_path, "store", "copy", "--from", f"sqlite:{tmp_path / 'a.db'}", "--to", f"sqlite:{tmp_path / 'b.db'}", "--batch-size", "10", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["posts"], report["new"], report["updated"], report["errors"]) == (25, 25, 0, [])
    assert report["records"] == {"crawl runs": 1, "cursors": 1, "alerts": 1, "candidates": 0, "subscriptions": 1, "saved searches": 1, "unsent messages": 1}
    with SQLiteStore(tmp_path / "a.db") as source, SQLiteStore(tmp_path / "b.db") as copied:
        for n in range(25):
            assert copied.get_post(f"feed:{n}") == source.get_post(f"feed:{n}")
        assert copied.get_post("feed:0").first_seen_at == datetime(2024, 6, 1, tzinfo=UTC)
        assert copied.get_cursor("feed-a") == {"etag": "W/1"}
        assert [m.id for m in copied.due_messages(datetime(2030, 1, 1, tzinfo=UTC))] == ["m1"]
        assert [r.id for r in copied.crawl_runs()] == ["run-1"]
    assert not list((tmp_path / "data" / "store-copy").glob("*.json")), "a finished copy leaves no checkpoint"


def test_copying_again_updates_instead_of_doubling(tmp_path: Path) -> None:
    fill(tmp_path / "a.db", posts=5).close()
    arguments = ("store", "copy", "--from", f"sqlite:{tmp_path / 'a.db'}", "--to", f"sqlite:{tmp_path / 'b.db'}", "--json")
    vigie(tmp_path, *arguments)
    again = json.loads(vigie(tmp_path, *arguments).output)
    assert (again["new"], again["updated"], again["records"]["unsent messages"]) == (0, 5, 0)


def test_a_copy_cut_short_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    fill(tmp_path / "a.db", posts=7).close()
    arguments = ("store", "copy", "--from", f"sqlite:{tmp_path / 'a.db'}", "--to", "elasticsearch", "--batch-size", "3", "--posts-only")
    with FakeElasticsearch(down_after_bulks=1) as cluster:
        failed = vigie(tmp_path, *arguments, es_url=cluster.url)
        assert failed.exit_code == 1
        assert "posts not written; run the same command again to resume from" in failed.output
        (checkpoint,) = (tmp_path / "data" / "store-copy").glob("*.json")
        assert json.loads(checkpoint.read_text())["published_at"] == (START + timedelta(hours=2)).isoformat()
        assert sorted(cluster.stored()) == ["feed:0", "feed:1", "feed:2"]

        cluster.down_after_bulks = None
        resumed = vigie(tmp_path, *arguments, es_url=cluster.url)
        assert resumed.exit_code == 0, resumed.output
        assert "5 posts copied" in resumed.output and "resumed from posts published at 2024-03-01T02:00:00+00:00" in resumed.output
        assert sorted(cluster.stored()) == [f"feed:{n}" for n in range(7)]
        assert cluster.bulk_ids().count("feed:0") == 1
        assert cluster.bulk_ids().count("feed:2") == 2, "published at the checkpoint's instant: sent again on resume, absorbed by the upsert"
        assert not checkpoint.exists()


def test_copy_to_an_unreachable_cluster_fails_in_one_line_and_spools_nothing(tmp_path: Path) -> None:
    fill(tmp_path / "a.db", posts=2).close()
    result = vigie(tmp_path, "store", "copy", "--from", f"sqlite:{tmp_path / 'a.db'}", "--to", "elasticsearch", es_url=f"http://127.0.0.1:{closed_port()}")
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: Elasticsearch at http://127.0.0.1:") and "unreachable" in line
    assert not (tmp_path / "data" / "spool").exists()


def test_a_checkpoint_of_another_copy_is_refused_unless_restarted(tmp_path: Path) -> None:
    fill(tmp_path / "a.db", posts=2).close()
    stale = tmp_path / "stale.json"
    Checkpoint(stale, "sqlite:/elsewhere.db", "sqlite:/other.db", START, 10).save()
    arguments = ("store", "copy", "--from", f"sqlite:{tmp_path / 'a.db'}", "--to", f"sqlite:{tmp_path / 'b.db'}", "--checkpoint", str(stale))
    refused = vigie(tmp_path, *arguments)
    assert refused.exit_code == 1 and "checkpoint of a copy from sqlite:/elsewhere.db" in refused.output
    restarted = vigie(tmp_path, *arguments, "--restart")
    assert restarted.exit_code == 0 and "2 posts copied" in restarted.output


@pytest.mark.parametrize(
    ("source", "destination", "message"),
    [("sqlite:x.db", "sqlite:x.db", "are the same store"), ("mysql:db", "elasticsearch", "expected sqlite:PATH, elasticsearch[:PREFIX] or opensearch[:PREFIX]")],
)
def test_bad_store_names_are_refused(tmp_path: Path, source: str, destination: str, message: str) -> None:
    result = vigie(tmp_path, "store", "copy", "--from", source, "--to", destination, es_url="http://127.0.0.1:9200")
    assert result.exit_code == 2 and message in result.output


def test_init_on_the_embedded_store(tmp_path: Path) -> None:
    result = vigie(tmp_path, "store", "init")
    assert result.exit_code == 0 and "embedded store" in result.output and "schema up to date" in result.output


def test_init_on_elasticsearch_installs_and_reports(tmp_path: Path) -> None:
    with FakeElasticsearch() as cluster:
        result = vigie(tmp_path, "store", "init", "--json", es_url=cluster.url, backend="elasticsearch")
        assert result.exit_code == 0, result.output
        steps = [json.loads(line)["step"] for line in result.output.splitlines()]
        assert "index vigie-outbox: created" in steps and "template vigie-posts: version 2 for vigie-posts-*" in steps
        assert "vigie-posts" in cluster.templates


def test_init_names_the_cluster_when_it_is_away(tmp_path: Path) -> None:
    port = closed_port()
    result = vigie(tmp_path, "store", "init", es_url=f"http://127.0.0.1:{port}", backend="elasticsearch")
    assert result.exit_code == 1 and f"Elasticsearch at http://127.0.0.1:{port} unreachable while reading the server version" in result.output


def test_init_refuses_an_older_cluster_in_one_line(tmp_path: Path) -> None:
    with FakeElasticsearch(info={"version": {"number": "7.17.24", "build_flavor": "default"}, "tagline": "You Know, for Search"}) as cluster:
        result = vigie(tmp_path, "store", "init", es_url=cluster.url, backend="elasticsearch")
    assert result.exit_code == 1
    assert result.output == f"Error: Elasticsearch at {cluster.url} is version 7.17.24; Vigie needs Elasticsearch 8.9 or newer (point in time, highlight max_analyzed_offset, phrases highlighted as one span)\n"


def test_replay_sends_what_waits_in_the_spool(tmp_path: Path) -> None:
    Spool(tmp_path / "data" / "spool").append([make_post("1", "x"), make_post("2", "y")])
    with FakeElasticsearch() as cluster:
        result = vigie(tmp_path, "store", "replay", es_url=cluster.url, backend="elasticsearch")
        assert result.exit_code == 0, result.output
        assert result.output.startswith("2 spooled posts sent: 2 new, 0 updated, 0 refused")
        assert sorted(cluster.stored()) == ["feed:1", "feed:2"]


def test_replay_while_the_cluster_is_still_away(tmp_path: Path) -> None:
    Spool(tmp_path / "data" / "spool").append([make_post("1", "x")])
    result = vigie(tmp_path, "store", "replay", es_url=f"http://127.0.0.1:{closed_port()}", backend="elasticsearch")
    assert result.exit_code == 1 and "spooled posts stay in" in result.output
