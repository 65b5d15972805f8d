from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from enrich import Enricher
from enrich.duplicates import NearDuplicates
from enrich.language import LanguageIdentifier
from enrich.reenrich import reenrich
from enrich.watchlists import WatchlistMatcher, load_watchlists
from store.sqlite import SQLiteStore
from tests.support.factories import make_post, write_config
from vigie.config import load_config

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 1, tzinfo=UTC)
WATCHLISTS = {
    "conspiracy": {"narratives": [{"id": "plandemic", "label": "Plandemic", "terms": {"fr": ["plandémie"]}}]},
    "sky": {"narratives": [{"id": "chemtrails", "label": "Chemtrails", "terms": {"en": ["chemtrail"]}}]},
}
TEXTS = [
    "La plandémie et le grand reset, même combat",
    "Chemtrails over the city again, and the great reset is coming",
    "Le grand reset arrive, préparez-vous",
    "Rien à voir : la fête du village aura lieu samedi",
    "Encore la plandémie, et des chemtrails partout",
]
ENRICHMENT = {"tags", "narratives", "matches"}


def vigie(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from vigie.cli import main; main()", *args], capture_output=True, text=True, timeout=120, cwd=REPO)


@pytest.fixture
def setup(tmp_path: Path, identifier: LanguageIdentifier) -> tuple[Path, Path]:
    config_dir = write_config(tmp_path / "cfg", watchlists=WATCHLISTS)
    data_dir = tmp_path / "data"
    config = load_config(config_dir, data_dir)
    data_dir.mkdir()
    with SQLiteStore(config.sqlite_path) as store:
        enricher = Enricher(identifier, WatchlistMatcher(load_watchlists(config_dir / "watchlists")), NearDuplicates(), store=store)
        posts = [make_post(f"p{i}", text, source_id="src", published_at=T0 + timedelta(hours=i // 2), tags=["veille"]) for i, text in enumerate(TEXTS)]
        store.upsert_posts(enricher.enrich(posts))
    return config_dir, data_dir


def snapshot(data_dir: Path) -> dict[str, dict]:
    with SQLiteStore(data_dir / "vigie.db") as store:
        return {f"feed:p{i}": store.get_post(f"feed:p{i}").model_dump() for i in range(len(TEXTS))}


def edit_watchlist(config_dir: Path, name: str, terms: dict[str, list[str]]) -> None:
    path = config_dir / "watchlists" / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["narratives"][0]["terms"] = terms
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_reenrich_after_an_edit_changes_tags_and_nothing_else(setup: tuple[Path, Path]) -> None:
    config_dir, data_dir = setup
    before = snapshot(data_dir)
    assert before["feed:p0"]["tags"] == ["veille", "plandémie"]
    assert before["feed:p2"]["narratives"] == []

    edit_watchlist(config_dir, "conspiracy", {"fr": ["grand reset"], "en": ["great reset"]})
    done = vigie("--config", str(config_dir), "--data-dir", str(data_dir), "reenrich")
    assert done.returncode == 0, done.stderr
    assert "5 posts checked, 4 re-tagged" in done.stdout

    after = snapshot(data_dir)
    assert [after[f"feed:p{i}"]["narratives"] for i in range(5)] == [["plandemic"], ["chemtrails", "plandemic"], ["plandemic"], [], ["chemtrails"]]
    assert after["feed:p0"]["tags"] == ["veille", "grand reset"]
    assert after["feed:p4"]["tags"] == ["veille", "chemtrail"], "source tags are kept, removed terms dropped"
    match = after["feed:p2"]["matches"][0]
    assert TEXTS[2][match["start"] : match["end"]] == "grand reset" and match["watchlist"] == "conspiracy"
    for post_id, post in after.items():
        assert {k: v for k, v in post.items() if k not in ENRICHMENT} == {k: v for k, v in before[post_id].items() if k not in ENRICHMENT}

    again = vigie("--config", str(config_dir), "--data-dir", str(data_dir), "reenrich")
    assert "already done" in again.stdout
    assert snapshot(data_dir) == after


def test_reenrich_after_a_rule_is_added_stores_the_rule_match(setup: tuple[Path, Path]) -> None:
    config_dir, data_dir = setup
    path = config_dir / "watchlists" / "sky.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["groups"] = {"reset": ["grand reset", "great reset"], "coming": {"en": ["coming"], "fr": ["arrive"]}}
    data["narratives"][0]["rules"] = {"fr": ["reset NEAR/2 coming"], "en": ["reset NEAR/2 coming"]}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert vigie("--config", str(config_dir), "check").returncode == 0
    done = vigie("--config", str(config_dir), "--data-dir", str(data_dir), "reenrich")
    assert done.returncode == 0, done.stderr
    after = snapshot(data_dir)
    assert [after[f"feed:p{i}"]["narratives"] for i in range(5)] == [["plandemic"], ["chemtrails"], ["chemtrails"], [], ["plandemic", "chemtrails"]]
    matches = [(m["group"], m["term"], TEXTS[1][m["start"] : m["end"]], m["rule"]) for m in after["feed:p1"]["matches"] if m["rule"]]
    assert matches == [("reset", "great reset", "great reset", "reset NEAR/2 coming"), ("coming", "coming", "coming", "reset NEAR/2 coming")]
    assert [m["group"] for m in after["feed:p2"]["matches"]] == ["reset", "coming"]


def test_one_watchlist_only_keeps_the_others_matches(setup: tuple[Path, Path]) -> None:
    config_dir, data_dir = setup
    edit_watchlist(config_dir, "sky", {"en": ["great reset"]})
    edit_watchlist(config_dir, "conspiracy", {"fr": ["fête du village"]})
    done = vigie("--config", str(config_dir), "--data-dir", str(data_dir), "reenrich", "--watchlist", "sky", "--since", "2024-05-01T01:00")
    assert done.returncode == 0, done.stderr
    after = snapshot(data_dir)
    assert after["feed:p0"]["narratives"] == ["plandemic"], "published before --since: untouched"
    assert after["feed:p2"]["narratives"] == []
    assert after["feed:p3"]["narratives"] == [], "the conspiracy list was not re-applied"
    assert after["feed:p4"]["narratives"] == ["plandemic"]
    assert after["feed:p4"]["tags"] == ["veille", "plandémie"]


def test_unknown_watchlist_is_a_config_error(setup: tuple[Path, Path]) -> None:
    config_dir, data_dir = setup
    done = vigie("--config", str(config_dir), "--data-dir", str(data_dir), "reenrich", "--watchlist", "nope")
    assert done.returncode == 2
    assert "no watchlist 'nope' (known: conspiracy, sky)" in done.stderr


def test_an_interrupted_run_resumes_where_it_stopped(setup: tuple[Path, Path]) -> None:
    config_dir, data_dir = setup
    edit_watchlist(config_dir, "conspiracy", {"fr": ["grand reset"], "en": ["great reset"]})
    watchlists = load_watchlists(config_dir / "watchlists")

    def interrupt(count: int) -> None:
        raise KeyboardInterrupt

    with SQLiteStore(data_dir / "vigie.db") as store:
        with pytest.raises(KeyboardInterrupt):
            reenrich(store, watchlists, batch_size=2, on_batch=interrupt)
        processed: list[int] = []
        report = reenrich(store, watchlists, batch_size=2, on_batch=processed.append)
        assert report.resumed_from == (T0).isoformat()
        assert sum(processed) == 3, "the first batch is not done twice"
        assert report.seen == 5 and report.changed == 4
        assert reenrich(store, watchlists).already_done
        assert reenrich(store, watchlists, restart=True).changed == 0
    assert [snapshot(data_dir)[f"feed:p{i}"]["narratives"] for i in range(5)] == [["plandemic"], ["chemtrails", "plandemic"], ["plandemic"], [], ["chemtrails"]]
