"""The search box and `vigie import` on generated input. A query is never a syntax, database or engine error: any
text searches (the SQLite store, and the Elasticsearch request body built from it); every line of an import is
a post or one reported bad line, and the command's exit code says whether any was bad."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from store.base import PostQuery
from store.es_bodies import search_body
from store.sqlite import SQLiteStore
from tests.fuzz.mutations import INVALID_UTF8, mutated_json
from tests.support.factories import make_post, write_config
from vigie.cli import cli

WORDS = ["guérison", "miracle", "cure", "vaccin", "5G", "l'éveil", "NEAR", "AND", "OR", "NOT"]
FTS_SYNTAX = st.sampled_from(['"', "*", "^", ":", "(", ")", "-", "+", "NEAR(", "AND", "OR", "NOT", "{", "}", "'", "\\", "\x00", "%", "_", ";", "--", "/*"])
QUERIES = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(st.sampled_from(WORDS), FTS_SYNTAX, st.text(max_size=5)), max_size=12).map(" ".join),
    st.lists(st.one_of(st.sampled_from(WORDS), FTS_SYNTAX), max_size=12).map("".join),
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path_factory.mktemp("fuzz-search") / "vigie.db") as opened:
        texts = ["La guérison miracle par la 5G", "A miracle cure, they say", "NEAR the AND gate: vaccin OR not", "L'éveil spirituel * (secret)"]
        opened.upsert_posts([make_post(f"p{number}", text) for number, text in enumerate(texts)])
        yield opened


@given(text=QUERIES)
def test_any_query_text_searches(store: SQLiteStore, text: str) -> None:
    result = store.search(PostQuery(text=text, limit=5))
    assert result.total == store.count_posts(PostQuery(text=text)) >= len(result.hits)
    json.dumps(search_body(PostQuery(text=text), size=5))  # the Elasticsearch request is plain JSON too


PUNCTUATION = st.sampled_from(['"', "*", "^", ":", "(", ")", "-", "+", "{", "}", "'", "\\", "\x00", "%", ";", "--", "/*", "  "])


@given(word=st.sampled_from(["guérison", "GUERISON", "miracle", "vaccin", "spirituel"]), before=PUNCTUATION, after=PUNCTUATION)
def test_a_stored_word_wrapped_in_query_syntax_is_still_found(store: SQLiteStore, word: str, before: str, after: str) -> None:
    assert store.search(PostQuery(text=f"{before}{word}{after}")).total >= 1


GOOD = make_post("good", "a miracle cure").model_dump_json().encode()
LINES = st.one_of(
    st.just(GOOD),
    mutated_json(GOOD, deep=3000, huge=100_000),
    st.binary(max_size=80).filter(lambda raw: b"\n" not in raw and b"\r" not in raw),
    st.text(max_size=80).map(lambda text: text.replace("\n", " ").replace("\r", " ").encode()),
    st.sampled_from(INVALID_UTF8).map(lambda raw: GOOD[:20] + raw + GOOD[20:]),
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("fuzz-import")
    config = write_config(root / "config", settings={"enrich": {"language": {"languages": ["en", "fr"]}}})
    return config, root / "data"


@given(lines=st.lists(LINES, min_size=1, max_size=8))
def test_every_line_is_a_post_or_one_reported_bad_line(folders: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]) -> None:
    config, data = folders
    path = tmp_path_factory.mktemp("lines") / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "--data-dir", str(data), "import", str(path)], catch_exceptions=False)
    summary = result.stdout.strip().splitlines()[-1]
    imported, bad = int(summary.split(": ")[1].split()[0]), int(summary.rsplit(", ", 1)[1].split()[0])
    reported = result.stderr.strip().splitlines()
    assert bad == len(reported) and all(line.startswith(f"{path}:") for line in reported), reported
    assert imported + bad == sum(1 for line in lines if line.strip()), (summary, lines)
    assert result.exit_code == (1 if bad else 0)
