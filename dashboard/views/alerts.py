"""Alerts: open, acknowledged and resolved alerts with their evidence; acknowledge or resolve with a comment.

`?alert=<id>`, the link of every alert email, opens that alert above the list, whatever its state."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import actions, queries
from dashboard.render import local_time, md, opened, post_card
from dashboard.session import current
from vigie.models import Alert

STATES = {"open": "Open", "acknowledged": "Acknowledged", "resolved": "Resolved"}
BUTTONS = {"open": ("acknowledged", "resolved"), "acknowledged": ("resolved", "reopened"), "resolved": ("reopened",)}
# Evidence lists the alert cycle stores as [{"value", "count"}] (alerts/cycle.py). Notes in a page script are
# comments: Streamlit's magic would show a bare string on the page (the server runs with magic off, AppTest does not).
EVIDENCE_TOPS = {"top_sources": "Top sources", "top_authors": "Top authors", "platforms": "Platforms"}
LABELS = {"acknowledged": "Acknowledge", "resolved": "Resolve", "reopened": "Reopen", "commented": "Comment only"}

vigie = current()
st.title("Alerts")
linked_id = st.query_params.get("alert")
linked = queries.alert(vigie.store, vigie.store_key, linked_id) if linked_id else None
if linked_id and linked is None:
    st.warning(f"No alert {md(linked_id)} in the store: the list below shows the others.")
state = st.segmented_control("State", list(STATES), format_func=STATES.get, default="open", key="alerts-state") or "open"
alerts = queries.alerts(vigie.store, vigie.store_key, (state,), queries.ALERTS_SHOWN)
more = " (the most recent ones)" if len(alerts) == queries.ALERTS_SHOWN else ""
st.caption(f"{len(alerts)} {STATES[state].lower()} alert(s){more}, most recently updated first; times in {md(vigie.zone.key)}.")


def evidence(alert: Alert) -> None:
    count, baseline, ratio, score = st.columns(4)
    count.metric("Posts", alert.count)
    baseline.metric("Expected", f"{alert.baseline:.1f}")
    ratio.metric("Ratio", f"×{alert.ratio:.1f}" if alert.ratio else "—")
    score.metric("Score", f"{alert.score:.1f}")
    started = local_time(alert.bucket_start, vigie.zone)
    rule = alert.evidence.get("rule_label") or alert.rule_id
    st.markdown(f"Rule {md(rule)} · {md(alert.subject_type)} {md(alert.subject)} · surge from {md(started)} · opened {md(local_time(alert.opened_at, vigie.zone))}")
    columns = st.columns(3)
    for column, (name, title) in zip(columns, EVIDENCE_TOPS.items(), strict=True):
        rows = alert.evidence.get(name) or []
        if rows:
            column.markdown(f"**{title}**")
            column.dataframe(pd.DataFrame({"value": [str(row.get("value")) for row in rows], "posts": [row.get("count") for row in rows]}), hide_index=True, width="stretch")
    sample_ids = queries.sample_post_ids(alert)
    if sample_ids:
        st.markdown("**Sample posts**")
        for post in queries.posts(vigie.store, vigie.store_key, sample_ids):
            post_card(post, vigie.zone, key=f"alert-{alert.id}")


def history(alert: Alert) -> None:
    if not alert.history:
        return
    st.markdown("**History**")
    st.dataframe(
        pd.DataFrame(
            {
                "when": [local_time(event.at, vigie.zone) for event in alert.history],
                "what": [event.action for event in alert.history],
                "by": [event.by or "" for event in alert.history],
                "comment": [event.comment or "" for event in alert.history],
            }
        ),
        hide_index=True,
        width="stretch",
    )


def act(alert: Alert) -> None:
    with st.form(f"act-{alert.id}", clear_on_submit=True):
        comment = st.text_area("Comment", key=f"comment-{alert.id}", placeholder="What you checked, what you decided")
        choices = (*BUTTONS[alert.state], "commented")
        columns = st.columns(len(choices) + 2)
        pressed = [action for column, action in zip(columns[: len(choices)], choices, strict=True) if column.form_submit_button(LABELS[action], key=f"{action}-{alert.id}")]
    if pressed:
        try:
            updated = actions.record_alert_action(vigie.store, alert, pressed[0], vigie.user, comment)
        except actions.InvalidInput as exc:
            st.error(md(str(exc)))
        else:
            st.toast(f"Alert {md(updated.subject)}: {LABELS[pressed[0]].lower()} ✓")
            st.rerun()


def show(alert: Alert, expanded: bool) -> None:
    ratio = f" ×{alert.ratio:.1f}" if alert.ratio else ""
    label = f"{md(alert.kind)} · {md(alert.subject_type)} **{md(alert.subject)}**{ratio} · {alert.count} posts · updated {md(local_time(alert.updated_at, vigie.zone))}"
    box = opened(label, key=f"alert-open-{alert.id}", expanded=expanded)
    if not box:
        return
    with box:
        evidence(alert)
        history(alert)
        act(alert)


if linked is not None:
    st.subheader(f"Linked alert ({STATES[linked.state].lower()})")
    show(linked, expanded=True)
    st.subheader(f"{STATES[state]} alerts")
if not alerts:
    st.info(f"No {STATES[state].lower()} alert.")
for index, alert in enumerate(a for a in alerts if linked is None or a.id != linked.id):
    show(alert, expanded=index == 0 and linked is None)
