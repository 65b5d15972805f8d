"""Subscriptions: who receives which alerts, immediately or in the daily digest."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import actions, queries
from dashboard.render import local_time, md
from dashboard.session import current

NEW = "__new__"
MODES = {"immediate": "Immediately, one email per alert", "digest": "Daily digest"}

vigie = current()
st.title("Subscriptions")
alerts_file = vigie.alerts_file()
stored = queries.stored_subscriptions(vigie.store, vigie.store_key)
everyone = queries.subscribers(alerts_file, stored)
rules = queries.rule_choices(alerts_file, queries.saved_searches(vigie.store, vigie.store_key), stored)

if everyone:
    st.dataframe(
        pd.DataFrame(
            {
                "email": [s.subscription.email for s in everyone],
                "alerts": ["all rules" if "*" in s.subscription.rules else ", ".join(s.subscription.rules) for s in everyone],
                "delivery": [s.subscription.mode for s in everyone],
                "kept in": [s.origin for s in everyone],
                "since": [local_time(s.subscription.created_at, vigie.zone) for s in everyone],
                "id": [s.subscription.id for s in everyone],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    st.caption("Subscriptions come from config/alerts.yaml and from this page; saving one of alerts.yaml's here keeps a copy that wins over it.")
else:
    st.info("Nobody receives alerts yet: add a subscription below.")

by_id = {s.subscription.id: s for s in everyone}


def save(subscription_id: str | None, form: str) -> None:
    """Form callback: runs before the page is drawn again, so the table and the picker show the saved subscription."""
    state = st.session_state
    try:
        saved = actions.save_subscription(vigie.store, subscription_id, state[f"email-{form}"], state[f"rules-{form}"], state[f"mode-{form}"], [s.subscription for s in everyone])
    except actions.InvalidInput as exc:
        state["subscription-flash"] = ("error", str(exc))
        return
    state["subscription-choice"] = saved.id
    state["subscription-flash"] = ("success", f"Saved: {saved.email} receives {'all alerts' if '*' in saved.rules else ', '.join(saved.rules)} ({saved.mode}).")


def delete(subscription_id: str, email: str) -> None:
    actions.delete_subscription(vigie.store, subscription_id)
    st.session_state["subscription-choice"] = NEW
    st.session_state["subscription-flash"] = ("success", f"Deleted the dashboard's subscription of {email}.")


chosen = st.selectbox(
    "Edit",
    [NEW, *by_id],
    format_func=lambda key: "New subscription" if key == NEW else f"{by_id[key].subscription.email} ({key})",
    key="subscription-choice",
)
editing = by_id[chosen].subscription if chosen in by_id else None
with st.form(f"subscription-{chosen}"):
    st.text_input("Email address", value=editing.email if editing else "", key=f"email-{chosen}")
    st.multiselect(
        "Alerts",
        list(rules),
        default=[rule for rule in (editing.rules if editing else ["*"]) if rule in rules],
        format_func=rules.get,
        key=f"rules-{chosen}",
    )
    st.radio("Delivery", list(MODES), index=list(MODES).index(editing.mode) if editing else 0, format_func=MODES.get, key=f"mode-{chosen}")
    st.form_submit_button("Save", on_click=save, args=(editing.id if editing else None, chosen))
if editing and by_id[chosen].origin != "alerts.yaml":
    label = "Delete" if by_id[chosen].origin == "dashboard" else "Delete the dashboard's copy (alerts.yaml's entry applies again)"
    st.button(f"{label}: {md(editing.email)}", key=f"delete-{chosen}", on_click=delete, args=(editing.id, editing.email))
elif editing:
    st.caption("Defined in config/alerts.yaml: remove it there to stop it.")

flash = st.session_state.pop("subscription-flash", None)
if flash:
    (st.error if flash[0] == "error" else st.success)(md(flash[1]))
