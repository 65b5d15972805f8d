"""The ASGI app `vigie dashboard` serves: the Streamlit pages plus the streamed `/export` route."""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.routing import Route
from streamlit.starlette import App

from dashboard.download import ROUTE, endpoint
from dashboard.warm import keep_warm
from store import open_store
from vigie.config import load_config

SWITCH_INTERVAL = 0.001
"""Seconds a thread may hold the GIL while another waits for it (Python's default: 0.005). Every session's script
runs in a thread of this one process, and the event loop that sends their pages to the browsers takes the GIL again
after each socket write: behind a script busy in Python it waited up to 5 ms each time, over some 140 messages a
page. In a pair of `bench/dashboard_load.py --think 10` runs (ten analysts, 1M posts), the server's p95 from a
request to its last message sent went from 2.81 s to 0.97 s."""


@asynccontextmanager
async def first_views_kept_warm(_app: Any) -> AsyncIterator[None]:
    """While the server runs (`dashboard.warm_first_views`)."""
    stop = threading.Event()
    threading.Thread(target=keep_warm, args=(stop,), name="vigie first views", daemon=True).start()
    try:
        yield
    finally:
        stop.set()


sys.setswitchinterval(SWITCH_INTERVAL)
app = App(str(Path(__file__).with_name("app.py")), routes=[Route(ROUTE, endpoint(lambda: open_store(load_config())), methods=["GET"])], lifespan=first_views_kept_warm)
