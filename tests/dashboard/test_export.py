"""CSV and JSON Lines exports: the writers, `vigie export`, and the dashboard's streamed `/export` route."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from itertools import count, islice

import pytest
from click.testing import CliRunner
import anyio
import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from dashboard import download
from dashboard.export import CSV_COLUMNS, ROWS_PER_CHUNK, csv_cell, iter_export
from store.base import PostQuery
from tests.dashboard.conftest import HOSTILE_TEXT, Seeded
from tests.support.factories import make_post
from vigie.cli import cli
from vigie.models import Post


def _endless() -> Iterator[Post]:
    for index in count():
        yield make_post(f"n{index}", f"post {index}")


def test_export_is_lazy_and_chunked() -> None:
    """Chunks come out while the posts are still being read: an endless source still yields."""
    chunks = iter_export(_endless(), "jsonl")
    first = list(islice(chunks, 3))
    assert [len(chunk.splitlines()) for chunk in first] == [ROWS_PER_CHUNK] * 3
    assert json.loads(first[0].splitlines()[0])["id"] == "feed:n0"


def test_csv_neutralises_formulas_and_keeps_the_text() -> None:
    assert csv_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert [csv_cell(v) for v in ("+1", "-2", "@SUM(A1)", "\tx", "plain", None, 3)] == ["'+1", "'-2", "'@SUM(A1)", "'\tx", "plain", "", "3"]
    post = make_post("x", "=1+1 and\nmore, \"quoted\"", hashtags=["a", "b"])
    rows = list(csv.reader(io.StringIO("".join(iter_export([post], "csv")))))
    assert rows[0] == list(CSV_COLUMNS)
    row = dict(zip(CSV_COLUMNS, rows[1], strict=True))
    assert row["text"] == "'=1+1 and\nmore, \"quoted\"" and row["hashtags"] == "a | b"


def test_vigie_export_writes_every_matching_post(seeded: Seeded, tmp_path) -> None:
    target = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["export", "--format", "jsonl", "--narrative", "anti_vaccine", "--since", "30d", "-o", str(target)])
    assert result.exit_code == 0, result.output
    lines = target.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 80 and all(json.loads(line)["narratives"] == ["anti_vaccine"] for line in lines)
    assert "exported 80 post(s)" in result.stderr


def test_vigie_export_csv_to_stdout_with_text_and_platform(seeded: Seeded) -> None:
    result = CliRunner().invoke(cli, ["export", "onerror", "--format", "csv", "--platform", "mastodon"])
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["text"] for row in rows] == [HOSTILE_TEXT]


def test_vigie_export_rejects_a_bad_date(seeded: Seeded) -> None:
    result = CliRunner().invoke(cli, ["export", "--since", "yesterday"])
    assert result.exit_code == 2
    assert "neither a date" in result.output


def _get(seeded: Seeded, url: str) -> httpx.Response:
    """One request to the route, served by Starlette in this process."""
    app = Starlette(routes=[Route(download.ROUTE, download.endpoint(seeded.store))])

    async def fetch() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            return await client.get(url)

    return anyio.run(fetch)


def test_export_route_streams_the_signed_query(seeded: Seeded) -> None:
    query = PostQuery(narratives=("miracle_healing",), since=seeded.now - timedelta(days=30), limit=20, offset=40)
    response = _get(seeded, "/" + download.export_link(query, "jsonl"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in response.headers["content-disposition"]
    ids = [json.loads(line)["id"] for line in response.text.splitlines()]
    assert len(ids) == 191 == len(set(ids))  # the whole result set, not the page the link was made on


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token.replace(token.split(".")[0], download.export_link(PostQuery(), "csv").partition("token=")[2].split(".")[0]),
        lambda token: token + "x",
        lambda token: "garbage",
        lambda token: "",
    ],
)
def test_export_route_refuses_forged_links(seeded: Seeded, tamper) -> None:
    token = download.export_link(PostQuery(narratives=("anti_vaccine",)), "csv").partition("token=")[2]
    response = _get(seeded, f"{download.ROUTE}?token={tamper(token)}")
    assert response.status_code == 403


def test_export_links_expire() -> None:
    token = download.export_link(PostQuery(), "csv", now=time.time() - download.LINK_TTL - 1).partition("token=")[2]
    with pytest.raises(download.LinkError, match="expired"):
        download.read_link(token)


def test_stream_stops_its_worker_when_the_client_goes_away() -> None:
    """A cancelled download leaves no thread reading the store."""
    closed = threading.Event()

    def endless() -> Iterator[str]:
        try:
            yield from iter_export(_endless(), "csv")
        finally:
            closed.set()

    async def read_three() -> list[bytes]:
        stream = download.stream(endless())
        chunks = [await anext(stream) for _ in range(3)]
        await stream.aclose()
        return chunks

    chunks = anyio.run(read_three)
    assert len(chunks) == 3 and chunks[0].startswith(b"id,platform")
    assert closed.wait(5)



def test_vigie_export_says_where_it_cannot_write(seeded: Seeded, tmp_path) -> None:
    target = tmp_path / "missing-folder" / "out.csv"
    result = CliRunner().invoke(cli, ["export", "--format", "csv", "-o", str(target)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(f"Error: {target}: cannot write the export")
    assert not target.parent.exists()
