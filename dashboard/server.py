"""The ASGI app `vigie dashboard` serves: the Streamlit pages plus the streamed `/export` route."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Route
from streamlit.starlette import App

from dashboard.download import ROUTE, endpoint
from store import open_store
from vigie.config import load_config

app = App(str(Path(__file__).with_name("app.py")), routes=[Route(ROUTE, endpoint(lambda: open_store(load_config())), methods=["GET"])])
