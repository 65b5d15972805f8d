"""Candidates: narratives no watchlist names yet, as the alert cycle proposes them (newest, then fastest growing).

Each shows its terms, growth, earliest and most-shared posts, where it started and how it spread; promote it (the
analyst edits label, description and terms first) to write a watchlist file and re-tag history, or dismiss it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import actions, charts, queries
from dashboard.render import local_time, md, opened, post_card
from dashboard.session import current
from vigie.models import Arrival, Candidate

STATES = {"new": "New", "promoted": "Promoted", "dismissed": "Dismissed"}
SHOWN = 50

vigie = current()
st.title("Candidates")
state = st.segmented_control("State", list(STATES), format_func=STATES.get, default="new", key="candidates-state") or "new"
found = queries.candidates(vigie.store, vigie.store_key, (state,), SHOWN)
st.caption(
    f"{len(found)} {STATES[state].lower()} candidate(s): words, hashtags and copied texts surging together across sources "
    f"that no watchlist names; newest first, then fastest growing; times in {md(vigie.zone.key)}."
)


def counts_table(title: str, counts: dict[str, int], column: st.delta_generator.DeltaGenerator) -> None:
    column.markdown(f"**{title}**")
    column.dataframe(pd.DataFrame({"value": list(counts), "posts": list(counts.values())}), hide_index=True, width="stretch")


def spread(arrivals: list[Arrival], key: str) -> None:
    st.markdown("**Where it started and how it spread**")
    charts.draw(charts.spread(arrivals, vigie.zone), key=f"spread-{key}")
    st.dataframe(
        pd.DataFrame(
            {
                "first post": [local_time(a.first_at, vigie.zone) for a in arrivals],
                "source": [a.key for a in arrivals],
                "platform": [a.platform for a in arrivals],
                "posts": [a.posts for a in arrivals],
            }
        ),
        hide_index=True,
        width="stretch",
    )


def promote(candidate: Candidate) -> None:
    suggested = actions.slug(" ".join(t.lstrip("#") for t in candidate.terms[:2])).replace("-", "_") or "new_narrative"
    with st.form(f"promote-{candidate.id}"):
        st.markdown("**Promote to a watchlist narrative**")
        left, right = st.columns(2)
        narrative_id = left.text_input("Id", value=suggested, key=f"id-{candidate.id}", help="Also the watchlist file's name.")
        label = right.text_input("Label", value=" ".join(t.lstrip("#") for t in candidate.terms[:3]).capitalize(), key=f"label-{candidate.id}")
        description = st.text_area("Description", key=f"description-{candidate.id}", placeholder="What the narrative claims, and why it is watched")
        terms = st.text_area("Terms, one per line (`#tag` for a hashtag)", value="\n".join(candidate.terms), key=f"terms-{candidate.id}", height=160)
        pressed = st.form_submit_button("Promote and re-tag history", key=f"promote-{candidate.id}")
    if pressed:
        try:
            with st.spinner("Writing the watchlist and re-tagging the stored posts…"):
                done = actions.promote_candidate(vigie.config.config_dir, vigie.store, candidate, narrative_id=narrative_id, label=label, description=description, terms=terms, by=vigie.user)
        except actions.InvalidInput as exc:
            st.error(md(str(exc)))
        else:
            st.toast(f"Narrative {md(done.candidate.narrative)} written to {md(done.path.name)}; {done.report.changed} post(s) re-tagged ✓")
            st.rerun()


def show(candidate: Candidate, expanded: bool) -> None:
    terms = ", ".join(candidate.terms[:5])
    label = f"**{md(terms)}** · {candidate.posts} posts · ×{candidate.growth:.0f} · {len(candidate.sources)} sources · since {md(local_time(candidate.first_post_at, vigie.zone))}"
    box = opened(label, key=f"candidate-open-{candidate.id}", expanded=expanded)
    if not box:
        return
    with box:
        posts, expected, growth, authors = st.columns(4)
        posts.metric("Posts", candidate.posts)
        expected.metric("Expected", f"{candidate.baseline:.1f}")
        growth.metric("Growth", f"×{candidate.growth:.0f}")
        authors.metric("Authors", candidate.authors)
        st.markdown(f"Terms: {md(', '.join(candidate.terms))}")
        if candidate.clusters:
            st.caption(f"Copy-paste clusters: {md(', '.join(candidate.clusters))}")
        if candidate.narrative:
            st.caption(f"Promoted to {md(candidate.narrative)} by {md(candidate.by or 'unknown')}")
        elif candidate.state == "dismissed":
            st.caption(f"Dismissed by {md(candidate.by or 'unknown')} at {candidate.dismissed_posts} posts: it comes back if it grows well past that.")
        columns = st.columns(3)
        for column, (title, counts) in zip(columns, (("Sources", candidate.sources), ("Platforms", candidate.platforms), ("Languages", candidate.languages)), strict=True):
            counts_table(title, counts, column)
        if candidate.spread:
            spread(candidate.spread, candidate.id)
        for title, refs in (("Earliest posts", candidate.earliest), ("Most shared", candidate.most_shared)):
            shown = queries.posts(vigie.store, vigie.store_key, tuple(ref.id for ref in refs))
            if shown:
                st.markdown(f"**{title}**")
                for post in shown:
                    post_card(post, vigie.zone, key=f"{title}-{candidate.id}")
        if candidate.state != "promoted":
            promote(candidate)
        if candidate.state == "new" and st.button("Dismiss", key=f"dismiss-{candidate.id}", help="Hidden until it grows well past its size now."):
            actions.dismiss_candidate(vigie.store, candidate, vigie.user)
            st.toast("Dismissed ✓")
            st.rerun()


if not found:
    st.info(f"No {STATES[state].lower()} candidate.")
for index, candidate in enumerate(found):
    show(candidate, expanded=index == 0)
