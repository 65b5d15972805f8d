"""`vigie import` and `vigie search` through the real CLI, on a config folder and data dir of their own."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from store.base import PostQuery
from store.sqlite import SQLiteStore
from tests.support.factories import make_post, write_config
from vigie.cli import cli
from vigie.models import Author, Post, utcnow

WATCHLIST = {
    "healing": {
        "narratives": [
            {"id": "miracle_healing", "label": "Guérisons miracles", "terms": {"fr": ["guérison miraculeuse"], "en": ["miracle cure"]}},
        ]
    }
}


def posts() -> list[Post]:
    now = utcnow().replace(microsecond=0)
    return [
        make_post(
            "f1",
            "Témoignage : une guérison miraculeuse après trois séances de soins énergétiques au centre de la rue Haute.",
            source_id="rss-sante",
            published_at=now - timedelta(days=2),
            author=Author(id="u1", handle="temoin"),
        ),
        make_post(
            "t1",
            "Le gouvernement cache la vérité sur les traitements naturels, partagez avant que ce message disparaisse.",
            platform="telegram",
            source_id="tg-verite",
            published_at=now - timedelta(days=1),
            author=Author(id="tg-verite", handle="verite"),
        ),
        make_post(
            "m1",
            "This miracle cure is sold online for 400 euros per bottle, and doctors keep warning about it.",
            platform="mastodon",
            source_id="masto-watch",
            published_at=now - timedelta(hours=3),
            author=Author(id="m-7", handle="watcher@example.social"),
        ),
        make_post(
            "r1",
            "[red]not markup[/red] an old thread about crystals and healing stones from last year, still discussed here today.",
            platform="reddit",
            source_id="reddit-crystals",
            published_at=now - timedelta(days=40),
            author=Author(id="t2_x", handle="rockfan"),
        ),
    ]


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    config = write_config(tmp_path / "config", watchlists=WATCHLIST)
    return config, tmp_path / "data"


def vigie(folders: tuple[Path, Path], *args: str, columns: int = 80) -> Result:
    config, data = folders
    return CliRunner().invoke(cli, ["--config", str(config), "--data-dir", str(data), *args], env={"COLUMNS": str(columns)}, catch_exceptions=False)


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stored(folders: tuple[Path, Path]) -> SQLiteStore:
    return SQLiteStore(folders[1] / "vigie.db")


@pytest.fixture
def imported(folders: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    result = vigie(folders, "import", str(write_jsonl(tmp_path / "posts.jsonl", [post.model_dump_json() for post in posts()])))
    assert result.exit_code == 0, result.stderr
    return folders


# ---------------------------------------------------------------- import


def test_import_reports_bad_lines_by_number_and_keeps_the_good_ones(folders: tuple[Path, Path], tmp_path: Path) -> None:
    good = [post.model_dump_json() for post in posts()]
    missing_platform = json.dumps({k: v for k, v in json.loads(good[1]).items() if k != "platform"})
    path = write_jsonl(tmp_path / "in.jsonl", [good[0], "{not json", "", missing_platform, good[2], '{"platform": "myspace", "native_id": "1"}', good[3]])
    result = vigie(folders, "import", str(path))
    assert result.exit_code == 1
    bad = result.stderr.strip().splitlines()
    assert bad[0].startswith(f"{path}:2: Invalid JSON")
    assert bad[1] == f"{path}:4: platform: Field required"
    assert bad[2].startswith(f"{path}:6: platform: Input should be 'telegram'")
    assert len(bad) == 3
    assert result.stdout.strip() == f"{path}: 3 imported (3 new, 0 updated), 3 bad line(s)"
    with stored(folders) as store:
        assert sorted(p.native_id for p in store.search(PostQuery()).posts) == ["f1", "m1", "r1"]


@pytest.mark.parametrize("good_lines", [0, 1])
def test_the_vigie_command_exits_1_when_lines_are_bad(folders: tuple[Path, Path], tmp_path: Path, good_lines: int) -> None:
    """Through the installed entry point (`main()`), where click hands a command's exit code back instead of raising it."""
    lines = ["{not json", "[]", '"a string"', '{"platform": "telegram"}', *[post.model_dump_json() for post in posts()[:good_lines]]]
    path = tmp_path / "bad.jsonl"
    path.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe\n")
    config, data = folders
    done = subprocess.run([sys.executable, "-m", "vigie.cli", "--config", str(config), "--data-dir", str(data), "import", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done
    assert done.stdout.strip() == f"{path}: {good_lines} imported ({good_lines} new, 0 updated), 5 bad line(s)"
    assert len(done.stderr.strip().splitlines()) == 5


def test_imported_posts_are_enriched_like_crawled_ones(imported: tuple[Path, Path]) -> None:
    with stored(imported) as store:
        f1 = store.get_post("feed:f1")
        m1 = store.get_post("mastodon:m1")
    assert (f1.language, m1.language) == ("fr", "en")
    assert f1.narratives == ["miracle_healing"] and m1.narratives == ["miracle_healing"]
    assert f1.first_seen_at is not None


def test_reimport_updates_instead_of_duplicating(imported: tuple[Path, Path], tmp_path: Path) -> None:
    changed = [post.model_copy(update={"text": post.text + " (edited)"}) for post in posts()[:2]]
    result = vigie(imported, "import", str(write_jsonl(tmp_path / "again.jsonl", [p.model_dump_json() for p in changed])))
    assert result.exit_code == 0
    assert result.stdout.strip().endswith("2 imported (0 new, 2 updated), 0 bad line(s)")
    with stored(imported) as store:
        assert store.count_posts(PostQuery()) == 4
        assert store.count_posts(PostQuery(text="edited")) == 2


def test_import_of_a_missing_file_is_a_usage_error(folders: tuple[Path, Path], tmp_path: Path) -> None:
    result = vigie(folders, "import", str(tmp_path / "nowhere.jsonl"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


# ---------------------------------------------------------------- search


def search_ids(folders: tuple[Path, Path], *args: str) -> list[str]:
    result = vigie(folders, "search", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return [Post.model_validate_json(line).native_id for line in result.stdout.splitlines()]


def test_search_without_text_lists_newest_first(imported: tuple[Path, Path]) -> None:
    assert search_ids(imported) == ["m1", "t1", "f1", "r1"]
    assert search_ids(imported, "--sort", "oldest") == ["r1", "f1", "t1", "m1"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["guerison"], ["f1"]),
        (["MIRACLE CURE"], ["m1"]),
        (['"guérison miraculeuse"'], ["f1"]),
        (["--platform", "telegram"], ["t1"]),
        (["--platform", "telegram", "--platform", "reddit"], ["t1", "r1"]),
        (["--source", "masto-watch"], ["m1"]),
        (["--lang", "fr"], ["t1", "f1"]),
        (["--narrative", "miracle_healing"], ["m1", "f1"]),
        (["--tag", "guérison miraculeuse"], ["f1"]),
        (["--author", "verite"], ["t1"]),
        (["--since", "7d"], ["m1", "t1", "f1"]),
        (["--since", "36h", "--until", "1h"], ["m1", "t1"]),
        (["--until", "2000-01-01"], []),
        (["--since", "2000-01-01T00:00:00+02:00"], ["m1", "t1", "f1", "r1"]),
        (["--limit", "2", "--offset", "1"], ["t1", "f1"]),
        (["AND (", "--lang", "en"], ["m1", "r1"]),
    ],
)
def test_search_options(imported: tuple[Path, Path], args: list[str], expected: list[str]) -> None:
    assert search_ids(imported, *args) == expected


def test_search_json_lines_are_the_post_model(imported: tuple[Path, Path]) -> None:
    result = vigie(imported, "search", "--json", "--platform", "mastodon")
    (line,) = result.stdout.splitlines()
    data = json.loads(line)
    assert set(data) == set(Post.model_fields)
    assert (data["id"], data["language"], data["narratives"]) == ("mastodon:m1", "en", ["miracle_healing"])


def test_search_table_shows_posts_and_never_reads_their_text_as_markup(imported: tuple[Path, Path]) -> None:
    result = vigie(imported, "search", columns=400)
    assert result.exit_code == 0
    assert "[red]not markup[/red] an old thread" in result.stdout
    assert "reddit:r1" in result.stdout and "miracle_healing" in result.stdout
    assert result.stdout.rstrip().endswith("1-4 of 4 matching post(s)")


def test_search_with_no_match_says_so(imported: tuple[Path, Path]) -> None:
    result = vigie(imported, "search", "zzzzz")
    assert (result.exit_code, result.stdout.strip()) == (0, "0 of 0 matching post(s)")


def test_search_output_imports_back(imported: tuple[Path, Path], tmp_path: Path) -> None:
    exported = vigie(imported, "search", "--json").stdout
    other = (write_config(tmp_path / "other-config", watchlists=WATCHLIST), tmp_path / "other-data")
    result = vigie(other, "import", str(write_jsonl(tmp_path / "export.jsonl", exported.splitlines())))
    assert result.exit_code == 0
    assert search_ids(other) == search_ids(imported)


def test_a_bad_date_is_a_usage_error(imported: tuple[Path, Path]) -> None:
    result = vigie(imported, "search", "--since", "last tuesday")
    assert result.exit_code == 2
    assert "'last tuesday' is neither a date" in result.stderr
