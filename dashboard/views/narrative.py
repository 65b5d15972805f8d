"""Narrative: one narrative, watchlist term or hashtag: its timeline with spikes, who carries it, where it started and
how it spread (for it and for each of its copy-paste clusters), posts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, periods, queries
from dashboard.render import local_time, md, opened, post_card
from dashboard.session import current
from store.base import PostQuery, TermCount

KINDS = {"narrative": "Narrative", "term": "Watchlist term", "hashtag": "Hashtag"}
TOP_TITLES = {"source": "Top sources", "author": "Top authors", "hashtag": "Top hashtags", "domain": "Top linked domains", "narrative": "Co-occurring narratives"}

vigie = current()
now = vigie.now()
st.title("Narrative")

lists = vigie.watchlists()
labels = lists.narratives

left, middle, right = st.columns([1, 2, 1])
kind = left.selectbox("What", list(KINDS), format_func=KINDS.get, key="kind", bind="query-params")
if kind == "narrative":
    choices = list(labels)
elif kind == "term":
    choices = lists.terms
else:
    choices = list(dict.fromkeys([*queries.recent_values(vigie.store, vigie.store_key, "hashtag", now), *lists.hashtags]))
value = middle.selectbox(
    KINDS[kind],
    choices,
    index=0 if choices else None,
    format_func=lambda v: f"{labels[v]} ({v})" if kind == "narrative" and v in labels else v,
    accept_new_options=True,
    placeholder="Pick or type one",
    key="value",
    bind="query-params",
)
with right:
    since, until = periods.pick("Period", "narrative-period", now)

if not value:
    st.info("Pick a narrative, a watchlist term or a hashtag (the Overview lists those trending now).")
    st.stop()

filters = queries.subject_query(kind, value, since, until)
queries.origin.prefetch(vigie.store, vigie.store_key, filters)  # computed side by side with the subject's aggregates
view = queries.subject(vigie.store, vigie.store_key, kind, value, since, until)
title = labels.get(value, value) if kind == "narrative" else value
st.subheader(md(title))
interval = queries.interval_for(since, until)
marks = "days the spike detector flags, each against the 14 days before it" if interval == "day" else "hours where the alert cycle raised a spike alert"
utc_days = ", days in UTC" if interval == "day" else ""
st.caption(f"{view.total:,} posts · {len(view.spikes)} spike(s) · in red: {marks} · times in {md(vigie.zone.key)}{utc_days}")

if view.timeline:
    charts.draw(charts.timeline(view.timeline, view.spikes, vigie.zone, interval))
else:
    st.info("No post in this period.")
    st.stop()


def top_table(terms: list[TermCount], field: str) -> None:
    if not terms:
        st.caption("none")
        return
    st.dataframe(
        pd.DataFrame({field: [t.value for t in terms], "posts": [t.count for t in terms]}),
        hide_index=True,
        width="stretch",
        column_config={"posts": st.column_config.ProgressColumn(format="%d", min_value=0, max_value=max(t.count for t in terms))},
    )


columns = st.columns(3)
for index, field in enumerate(TOP_TITLES):
    with columns[index % 3]:
        st.markdown(f"**{TOP_TITLES[field]}**")
        top_table(view.top[field], field)
with columns[len(TOP_TITLES) % 3]:
    st.markdown("**Languages**")
    if view.top["language"]:
        charts.draw(charts.share(view.top["language"], "language"))

def origin(query: PostQuery, key: str) -> None:
    """The earliest post of the period and each source's first post, as a chart and a table."""
    found = queries.origin(vigie.store, vigie.store_key, query)
    if found.first is None:
        return
    st.caption(md(found.summary(vigie.zone)))
    charts.draw(charts.spread(found.sources, vigie.zone), key=f"spread-{key}")
    st.dataframe(
        pd.DataFrame(
            {
                "first post": [local_time(a.first_at, vigie.zone) for a in found.sources],
                "source": [a.key for a in found.sources],
                "platform": [a.platform for a in found.sources],
                "posts": [a.posts for a in found.sources],
            }
        ),
        hide_index=True,
        width="stretch",
    )


st.subheader("Where it started")
origin(filters, "subject")

st.subheader("Copy-paste clusters")
if view.clusters:
    st.caption("The same text posted across sources; the first appearance is where it started, as far as Vigie saw.")
    st.dataframe(
        pd.DataFrame(
            {
                "cluster": [c.cluster_id for c in view.clusters],
                "posts": [c.posts for c in view.clusters],
                "sources": [c.sources for c in view.clusters],
                "first seen in": [c.first_source for c in view.clusters],
                "first seen at": [local_time(c.first_published_at, vigie.zone) for c in view.clusters],
                "first post": [c.first_post_id for c in view.clusters],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    box = opened("First post of the widest clusters", key="cluster-firsts")
    if box:
        with box:
            for post in queries.posts(vigie.store, vigie.store_key, tuple(c.first_post_id for c in view.clusters[:3])):
                post_card(post, vigie.zone, key="cluster")
    picked = st.selectbox("Where a cluster started", [c.cluster_id for c in view.clusters], key="origin-cluster")
    if picked:
        origin(queries.cluster_query(picked, until), "cluster")
else:
    st.caption("No text of this subject was copied across two sources or more in this period.")

st.subheader("Posts, newest first")
query = queries.posts_page(filters)
pages = max(1, -(-view.total // queries.POSTS_PAGE))
page = st.pagination(pages, key=f"narrative-page-{queries.digest(query)}") if pages > 1 else 1
result = queries.search(vigie.store, vigie.store_key, query.model_copy(update={"offset": (page - 1) * queries.POSTS_PAGE}))
for hit in result.hits:
    post_card(hit.post, vigie.zone, key="narrative")
