"""Search: full text and filters over every stored post, matched words highlighted; save, subscribe, export."""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from dashboard import actions, download, periods, queries
from dashboard.render import local_time, md, post_card
from dashboard.session import current
from store.base import PostQuery
from vigie.models import PLATFORMS

PAGE_SIZE = 20
FILTER_KEYS = {"text": "search-text", "platforms": "search-platforms", "sources": "search-sources", "languages": "search-languages", "narratives": "search-narratives", "tags": "search-tags", "authors": "search-authors", "sort": "search-sort"}

vigie = current()
now = vigie.now()
today = now.astimezone(vigie.zone).date()
st.title("Search")


def load(saved_query: dict) -> None:
    """Fill the widgets from a saved search (a callback: widgets cannot change once drawn in a run)."""
    query = PostQuery.model_validate(saved_query)
    for name, key in FILTER_KEYS.items():
        value = getattr(query, name)
        st.session_state[key] = ", ".join(value) if name == "authors" else list(value) if isinstance(value, tuple) else value or ""


def forget(search_id: str) -> None:
    actions.delete_search(vigie.store, search_id)


saved_searches = queries.saved_searches(vigie.store, vigie.store_key)
if saved_searches:
    with st.expander(f"Saved searches ({len(saved_searches)})"):
        for saved in saved_searches:
            use, drop = st.columns([4, 1])
            use.button(f"Load: {md(saved.name)}", key=f"load-{saved.id}", on_click=load, args=(saved.query,))
            drop.button("Delete", key=f"forget-{saved.id}", on_click=forget, args=(saved.id,))


lists = vigie.watchlists()
source_tags = [tag for source in vigie.config.sources for tag in source.tags or ()]  # an Odysee channel source has none (its `tags` are a target)


text = st.text_input("Words", key=FILTER_KEYS["text"], placeholder='e.g. guérison "miracle cure"; all words must appear')
with st.expander("Filters", expanded=True):
    first, second, third = st.columns(3)
    chosen_days = first.date_input("Published between", value=(today - timedelta(days=30), today), max_value=today + timedelta(days=1), key="search-period")
    platforms = first.multiselect("Platform", PLATFORMS, key=FILTER_KEYS["platforms"])
    sources = second.multiselect("Source", sorted(s.id for s in vigie.config.sources), accept_new_options=True, key=FILTER_KEYS["sources"])
    languages = second.multiselect("Language", [*vigie.config.settings.enrich.language.languages, "und"], accept_new_options=True, key=FILTER_KEYS["languages"])
    narratives = third.multiselect("Narrative", list(lists.narratives), format_func=lambda n: lists.narratives.get(n, n), accept_new_options=True, key=FILTER_KEYS["narratives"])
    tags = third.multiselect("Tag", list(dict.fromkeys([*source_tags, *lists.terms])), accept_new_options=True, key=FILTER_KEYS["tags"])
    authors = first.text_input("Authors (handles or ids, comma-separated)", key=FILTER_KEYS["authors"])
    sort = second.radio("Order", ["newest", "oldest", "relevance"], horizontal=True, key=FILTER_KEYS["sort"])

days: tuple[date, ...] = tuple(chosen_days) if isinstance(chosen_days, tuple | list) else (chosen_days,)
since, until = periods.day_range(days[0], days[-1], vigie.zone) if days else (now - timedelta(days=30), now)
query = PostQuery(
    text=text.strip() or None,
    since=since,
    until=until,
    platforms=tuple(platforms),
    sources=tuple(sources),
    languages=tuple(languages),
    narratives=tuple(narratives),
    tags=tuple(tags),
    authors=tuple(a.strip().lstrip("@") for a in authors.split(",") if a.strip()),
    sort=sort,
    limit=PAGE_SIZE,
)

paging = f"search-page-{queries.digest(query)}"
result = queries.search(vigie.store, vigie.store_key, query.model_copy(update={"offset": (st.session_state.get(paging, 1) - 1) * PAGE_SIZE}))
total = result.total
scope = queries.coverage(vigie.store, vigie.store_key, query) if query.text else total
if query.sources:
    origin = "from " + ", ".join(sorted(query.sources))
else:
    watched = sorted(s.id for s in vigie.config.sources if not query.platforms or s.platform in query.platforms)
    origin = f"from the {len(watched)} watched source(s)" + (f" ({', '.join(watched[:6])}{f' and {len(watched) - 6} more' if len(watched) > 6 else ''})" if watched else "")
    origin += f" on {', '.join(query.platforms)}" if query.platforms else ""
st.caption(md(f"Searching {scope:,} posts {origin}, published from {local_time(since, vigie.zone)} to {local_time(until, vigie.zone)}."))

st.markdown(f"**{total:,} matching post(s)**")
if total > PAGE_SIZE:
    st.pagination(-(-total // PAGE_SIZE), key=paging)
for hit in result.hits:
    post_card(hit.post, vigie.zone, hit.highlights, key="search")

st.divider()
save, export = st.columns(2)
with save:
    st.markdown("**Save this search**")
    st.caption("Words and filters are saved, not the period: a saved search watches new posts. Give an address and the same click subscribes it: from the next alert cycle, a surge of posts matching the search sends it an alert.")
    with st.form("save-search", clear_on_submit=True):
        name = st.text_input("Name", key="save-name")
        email = st.text_input("Subscribe this address to its alerts (optional)", key="save-email")
        mode = st.radio("Delivery", ["immediate", "digest"], horizontal=True, key="save-mode")
        if st.form_submit_button("Save", key="save-search-button"):
            try:
                if email.strip():
                    actions.check_email(email)
                saved = actions.save_search(vigie.store, name, query)
                message = f"Saved as {md(saved.name)}."
                if email.strip():
                    alerts_file = vigie.alerts_file()
                    rule_id = queries.search_rule_id(saved.id, alerts_file.rules)
                    configured = [entry.to_subscription() for entry in alerts_file.subscriptions]
                    subscription = actions.subscribe(vigie.store, email, rule_id, mode, configured)
                    rule = next((rule for rule in alerts_file.rules if rule.id == rule_id), None)
                    if rule is None:
                        watcher = "a spike rule with the default settings"
                    else:
                        watcher = f"rule {md(rule_id)} of alerts.yaml" + ("" if rule.enabled else " (disabled there: no alert until it is enabled)")
                    message += f" {md(subscription.email)} is subscribed ({subscription.mode}): {watcher} watches the search from the next alert cycle."
                st.success(message)
            except actions.InvalidInput as exc:
                st.error(md(str(exc)))
with export:
    st.markdown("**Export every matching post**")
    st.caption(f"{total:,} rows, streamed (the link works for {download.LINK_TTL // 60} minutes).")
    st.link_button("CSV", download.export_link(query, "csv", session=vigie.token), icon=":material/download:", disabled=not total)
    st.link_button("JSON Lines", download.export_link(query, "jsonl", session=vigie.token), icon=":material/download:", disabled=not total)
