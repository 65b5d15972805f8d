"""`vigie store backup` while `vigie import` writes, then `vigie store restore`: real processes on real SQLite files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from store.base import PostQuery
from store.sqlite import SQLiteStore
from tests.support.factories import make_post, write_config

POSTS = 12_000
BATCH = 200
START = datetime(2024, 5, 1, tzinfo=UTC)


def vigie(config: Path, data: Path, *args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "vigie.cli", "--config", str(config), "--data-dir", str(data), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)  # type: ignore[call-overload]


def finished(process: subprocess.Popen[str], timeout: float = 300) -> tuple[str, str]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, (out, err)
    return out, err


def stored_numbers(database: Path) -> list[int]:
    with SQLiteStore(database) as store:
        return sorted(int(post.native_id[1:]) for post in store.iter_posts(PostQuery()))


def posts_written(database: Path) -> int:
    """Posts in the store so far; none while the file or its schema is still being created."""
    if not database.exists():
        return 0
    try:
        with closing(sqlite3.connect(database)) as db:
            return db.execute("SELECT count(*) FROM posts").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    config = write_config(tmp_path / "config", settings={"store": {"batch_size": BATCH}, "enrich": {"language": {"languages": ["en", "fr"]}}})
    data = tmp_path / "data"
    data.mkdir()
    return config, data


def test_a_backup_taken_during_an_import_restores_a_whole_prefix_of_it(folders: tuple[Path, Path], tmp_path: Path) -> None:
    config, data = folders
    lines = (make_post(f"n{number}", f"post {number} about a miracle cure", published_at=START + timedelta(minutes=number)).model_dump_json() for number in range(POSTS))
    source = tmp_path / "posts.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    database = data / "vigie.db"

    importing = vigie(config, data, "import", str(source))
    try:
        deadline = time.monotonic() + 120
        while not posts_written(database):
            assert importing.poll() is None and time.monotonic() < deadline, importing.communicate()
            time.sleep(0.05)
        out, _ = finished(vigie(config, data, "store", "backup", str(tmp_path / "backup.db")))
        assert importing.poll() is None, "the import ended before the backup did: nothing shows the backup ran beside a writer"
    finally:
        finished(importing)
    assert "quick_check ok" in out and (tmp_path / "backup.db").exists() and not list(tmp_path.glob("backup.db*partial"))
    assert len(stored_numbers(database)) == POSTS

    restored_data = tmp_path / "restored"
    out, _ = finished(vigie(config, restored_data, "store", "restore", str(tmp_path / "backup.db")))
    restored = restored_data / "vigie.db"
    with sqlite3.connect(restored) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    numbers = stored_numbers(restored)
    assert 0 < len(numbers) < POSTS and len(numbers) % BATCH == 0  # whole batches only
    assert numbers == list(range(len(numbers)))  # the first posts the import wrote, none missing
    assert out.strip() == f"{restored}: restored from {tmp_path / 'backup.db'} ({len(numbers):,} posts)"


def test_restore_refuses_a_damaged_file_and_asks_before_replacing(folders: tuple[Path, Path], tmp_path: Path) -> None:
    config, data = folders
    with SQLiteStore(data / "vigie.db") as store:
        store.upsert_posts([make_post("n0", "kept")])
    finished(vigie(config, data, "store", "backup", str(tmp_path / "backup.db")))
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes((tmp_path / "backup.db").read_bytes()[:40_000])
    refused = vigie(config, data, "store", "restore", "--yes", str(damaged))
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 1 and err.startswith(f"Error: {damaged}: ") and len(err.strip().splitlines()) == 1
    declined = vigie(config, data, "store", "restore", str(tmp_path / "backup.db"), stdin=subprocess.PIPE)
    _, err = declined.communicate("n\n", timeout=60)
    assert declined.returncode != 0 and "Replace the content of" in err
    assert stored_numbers(data / "vigie.db") == [0]
