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
subscriptions = queries.subscriptions(vigie.store, vigie.store_key)
rules = queries.rule_choices(vigie.store, vigie.store_key, str(vigie.config.config_dir))

if subscriptions:
    st.dataframe(
        pd.DataFrame(
            {
                "email": [sub.email for sub in subscriptions],
                "alerts": ["all rules" if "*" in sub.rules else ", ".join(sub.rules) for sub in subscriptions],
                "delivery": [sub.mode for sub in subscriptions],
                "since": [local_time(sub.created_at, vigie.zone) for sub in subscriptions],
                "id": [sub.id for sub in subscriptions],
            }
        ),
        hide_index=True,
        width="stretch",
    )
else:
    st.info("Nobody receives alerts yet: add a subscription below.")

by_id = {sub.id: sub for sub in subscriptions}


def save(subscription_id: str | None, form: str) -> None:
    """Form callback: runs before the page is drawn again, so the table and the picker show the saved subscription."""
    state = st.session_state
    try:
        saved = actions.save_subscription(vigie.store, subscription_id, state[f"email-{form}"], state[f"rules-{form}"], state[f"mode-{form}"])
    except actions.InvalidInput as exc:
        state["subscription-flash"] = ("error", str(exc))
        return
    state["subscription-choice"] = saved.id
    state["subscription-flash"] = ("success", f"Saved: {saved.email} receives {'all alerts' if '*' in saved.rules else ', '.join(saved.rules)} ({saved.mode}).")


def delete(subscription_id: str, email: str) -> None:
    actions.delete_subscription(vigie.store, subscription_id)
    st.session_state["subscription-choice"] = NEW
    st.session_state["subscription-flash"] = ("success", f"Deleted the subscription of {email}.")


chosen = st.selectbox(
    "Edit",
    [NEW, *by_id],
    format_func=lambda key: "New subscription" if key == NEW else f"{by_id[key].email} ({key})",
    key="subscription-choice",
)
editing = by_id.get(chosen)
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
if editing:
    st.button(f"Delete the subscription of {md(editing.email)}", key=f"delete-{chosen}", on_click=delete, args=(editing.id, editing.email))

flash = st.session_state.pop("subscription-flash", None)
if flash:
    (st.error if flash[0] == "error" else st.success)(md(flash[1]))
