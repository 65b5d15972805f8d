"""The ASGI app `vigie dashboard` serves: the Streamlit pages plus the streamed `/export` route."""

from __future__ import annotations

import sys
from pathlib import Path

from starlette.routing import Route
from streamlit.starlette import App

from dashboard.download import ROUTE, endpoint
from store import open_store
from vigie.config import load_config

SWITCH_INTERVAL = 0.001
"""Seconds a thread may hold the GIL while another waits for it (Python's default: 0.005). Every session's script
runs in a thread of this one process, and the event loop that sends their pages to the browsers takes the GIL again
after each socket write: behind a script busy in Python it waited 5 ms each time, over some 140 messages a page. At
1 ms, ten analysts on a 1M-post store were answered in p95 0.97 s instead of 2.81 s from their request to its last
message sent (`bench/dashboard_load.py --think 10`)."""

sys.setswitchinterval(SWITCH_INTERVAL)
app = App(str(Path(__file__).with_name("app.py")), routes=[Route(ROUTE, endpoint(lambda: open_store(load_config())), methods=["GET"])])
