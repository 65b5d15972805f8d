"""The `/export` route: a search's whole result set streamed to the browser as CSV or JSON Lines.

`st.download_button` needs the whole file in memory (even its deferred form turns the callable's result into bytes),
so the dashboard links to this route instead: the store's `iter_posts` feeds a bounded queue from one worker thread
and the response sends chunk after chunk, so 100,000 rows or ten million take the same memory.
The link carries the query and the format, signed by the dashboard process with a key it draws at start (HMAC-SHA256)
and valid for LINK_TTL: only a signed-in session can make one, and it cannot be edited into another query. When a
password guards the dashboard the link also carries the sign-in's token, so it stops working when that session signs
out or its sign-in expires (auth.SignIns), even within LINK_TTL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import closing
from datetime import datetime
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from dashboard import auth
from dashboard.auth import b64, unb64
from dashboard.export import FORMATS, MEDIA_TYPES, ExportFormat, iter_export
from store.base import PostQuery, Store, StoreError
from vigie.models import utcnow

ROUTE = "/export"
LINK_TTL = 600
QUEUE_CHUNKS = 8
_KEY = secrets.token_bytes(32)


class LinkError(Exception):
    """The export link is malformed, forged or expired."""


def export_link(query: PostQuery, fmt: ExportFormat, *, session: str | None = None, now: float | None = None) -> str:
    """A relative link (resolved against the page) to the streamed export of every post the query matches; `session`,
    the sign-in token of the session that makes it, when there is one."""
    payload = {"q": query.model_dump(mode="json", exclude={"limit", "offset"}, exclude_defaults=True), "f": fmt, "e": int((now or time.time()) + LINK_TTL)}
    if session is not None:
        payload["s"] = session
    body = b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{ROUTE.lstrip('/')}?token={body}.{b64(_sign(body))}"


def read_link(token: str, *, now: float | None = None) -> tuple[PostQuery, ExportFormat]:
    body, _, signature = token.partition(".")
    try:
        valid = hmac.compare_digest(unb64(signature), _sign(body))
        payload: dict[str, Any] = json.loads(unb64(body)) if valid else {}
    except ValueError:
        raise LinkError("malformed export link") from None
    if not valid:
        raise LinkError("this export link was not made by this dashboard (or it was restarted since): export again")
    if payload["e"] < (now or time.time()):
        raise LinkError("this export link has expired: export again from the Search page")
    if "s" in payload and not auth.sign_ins.valid(payload["s"], now):
        raise LinkError("the session that made this export link has signed out or expired: sign in and export again")
    if payload["f"] not in FORMATS:
        raise LinkError("unknown export format")
    return PostQuery.model_validate(payload["q"]), payload["f"]


def file_name(fmt: ExportFormat, at: datetime) -> str:
    return f"vigie-export-{at:%Y%m%d-%H%M%S}.{fmt}"


def _put(out: queue.Queue[str | BaseException | None], item: str | BaseException | None, stop: threading.Event) -> bool:
    """Wait for room in the queue until the consumer stops; False when it did."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.5)
            return True
        except queue.Full:
            continue
    return False


def _get(out: queue.Queue[str | BaseException | None]) -> str | BaseException | None | bool:
    """The next item, or False after half a second, so a cancelled response never leaves a thread waiting."""
    try:
        return out.get(timeout=0.5)
    except queue.Empty:
        return False


def produce(chunks: Generator[str, None, None], out: queue.Queue[str | BaseException | None], stop: threading.Event) -> None:
    """Run the export in one thread (the store is used from it alone), blocking while the queue is full."""
    try:
        with closing(chunks):
            for chunk in chunks:
                if not _put(out, chunk, stop):
                    return
        _put(out, None, stop)
    except Exception as exc:  # noqa: BLE001 - handed to the consumer, which ends the response with it
        _put(out, exc, stop)


async def stream(chunks: Generator[str, None, None]) -> AsyncIterator[bytes]:
    """The chunks as bytes, produced in a worker thread; stops the worker when the client goes away."""
    out: queue.Queue[str | BaseException | None] = queue.Queue(maxsize=QUEUE_CHUNKS)
    stop = threading.Event()
    threading.Thread(target=produce, args=(chunks, out, stop), name="vigie-export", daemon=True).start()
    try:
        while True:
            item = await anyio.to_thread.run_sync(_get, out)
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            if item:
                yield item.encode("utf-8")
    finally:
        stop.set()


def endpoint(open_store: Callable[[], Store]) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint; `open_store()` gives a store for one export, closed when it ends."""

    async def export(request: Request) -> Response:
        try:
            query, fmt = read_link(request.query_params.get("token", ""))
        except LinkError as exc:
            return PlainTextResponse(f"{exc}\n", status_code=403)
        try:
            store = open_store()
        except StoreError as exc:
            return PlainTextResponse(f"the store did not answer: {exc}\n", status_code=503)

        def chunks() -> Generator[str, None, None]:
            try:
                yield from iter_export(store.iter_posts(query), fmt)
            finally:
                store.close()

        headers = {"Content-Disposition": f'attachment; filename="{file_name(fmt, utcnow())}"', "Cache-Control": "no-store"}
        return StreamingResponse(stream(chunks()), media_type=MEDIA_TYPES[fmt], headers=headers)

    return export


def _sign(body: str) -> bytes:
    return hmac.new(_KEY, body.encode("ascii"), hashlib.sha256).digest()
