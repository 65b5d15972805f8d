"""Sources: every watched source with its last run, status, error, posts per day and a link to it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import queries
from dashboard.render import local_time, md, source_url
from dashboard.session import current

vigie = current()
now = vigie.now()
st.title("Sources")

configured = vigie.config.sources
if not configured:
    st.info("No source is configured: add some to config/sources.yaml.")
    st.stop()

platforms = sorted({s.platform for s in configured})
shown = st.multiselect("Platform", platforms, key="sources-platforms") or platforms
problems_only = st.toggle("Only sources needing a look", key="sources-problems")
health = {h.source_id: h for h in queries.source_health(vigie.store, vigie.store_key, queries.source_specs(s for s in configured if s.platform in shown), now)}
rates = queries.posts_per_day(vigie.store, vigie.store_key, now)
rows = [(source, health[source.id]) for source in configured if source.id in health]
if problems_only:
    rows = [(source, h) for source, h in rows if h.problem and source.enabled]

st.caption(f"{len(rows)} source(s); posts per day over the last {queries.SOURCE_RATE_DAYS} days; times in {md(vigie.zone.key)}.")
st.dataframe(
    pd.DataFrame(
        {
            "source": [s.id for s, _ in rows],
            "platform": [s.platform for s, _ in rows],
            "link": [source_url(s) for s, _ in rows],
            "every": [f"{s.every.total_seconds() / 3600:g} h" for s, _ in rows],
            "status": [("disabled" if not s.enabled else h.last_run.status if h.last_run else "never run") for s, h in rows],
            "last run": [local_time(h.last_run.started_at if h.last_run else None, vigie.zone) for _, h in rows],
            "new posts": [h.last_run.new_posts if h.last_run else None for _, h in rows],
            "posts/day": [round(rates.get(s.id, 0.0), 1) for s, _ in rows],
            "needs a look": [(h.problem or "") if s.enabled else "" for s, h in rows],
            "error": [(h.last_run.errors[0].message if h.last_run and h.last_run.errors else "") for _, h in rows],
        }
    ),
    hide_index=True,
    width="stretch",
    height="content",
    column_config={
        "link": st.column_config.LinkColumn(display_text="open ↗", width="small"),
        "posts/day": st.column_config.NumberColumn(format="%.1f"),
        "error": st.column_config.TextColumn(width="large"),
    },
)
