"""The analysts' dashboard (`vigie dashboard`): the entry script that signs the visitor in and routes to the pages."""

from __future__ import annotations

import time

import streamlit as st

from dashboard import session
from dashboard.timing import log_if_slow
from dashboard.render import md
from store import StoreError
from store.base import StoreUnavailable

started = time.perf_counter()
st.set_page_config(page_title="Vigie", page_icon="🔭", layout="wide")
vigie = st.session_state["vigie"] = session.start()

page = st.navigation(
    [
        st.Page("views/overview.py", title="Overview", icon=":material/monitoring:", default=True),
        st.Page("views/narrative.py", title="Narrative", icon=":material/timeline:", url_path="narrative"),
        st.Page("views/search.py", title="Search", icon=":material/search:", url_path="search"),
        st.Page("views/alerts.py", title="Alerts", icon=":material/notifications_active:", url_path="alerts"),
        st.Page("views/candidates.py", title="Candidates", icon=":material/lightbulb:", url_path="candidates"),
        st.Page("views/sources.py", title="Sources", icon=":material/rss_feed:", url_path="sources"),
        st.Page("views/subscriptions.py", title="Subscriptions", icon=":material/mail:", url_path="subscriptions"),
    ]
)
try:
    page.run()
except StoreUnavailable as exc:
    st.error(f"Store unavailable: {md(exc)}. Reload in a moment: the dashboard reconnects by itself, and crawls keep what they collect meanwhile.")
except StoreError as exc:
    st.error(f"The store did not answer: {md(exc)}. Try again in a moment; the crawl keeps what it collects meanwhile.")
finally:  # also when the page stops early (st.stop) or fails
    log_if_slow(page.title, started, vigie.config.settings.dashboard.slow_page)
