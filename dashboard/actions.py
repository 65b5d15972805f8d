"""What analysts change from the dashboard, written through the store, then dropped from the query caches."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from alerts.email import AddressError, plain_address
from alerts.rules import EVERY, SEARCH_RULE_PREFIX
from dashboard import queries
from enrich.promotion import Promoted, PromotionError, promote
from store.base import PostQuery, Store
from vigie.models import Alert, AlertEvent, Candidate, SavedSearch, Subscription, utcnow

AlertAction = Literal["acknowledged", "resolved", "reopened", "commented"]
NEXT_STATE = {"acknowledged": "acknowledged", "resolved": "resolved", "reopened": "open"}


class InvalidInput(ValueError):
    """What the analyst typed cannot be saved; str() says why, in one line."""


def record_alert_action(store: Store, alert: Alert, action: AlertAction, by: str, comment: str) -> Alert:
    """Change an alert's state (or only comment on it) and append the event to its history."""
    comment = comment.strip()
    if action == "commented" and not comment:
        raise InvalidInput("write a comment first")
    now = utcnow()
    updated = Alert.model_validate(
        {
            **alert.model_dump(),
            "state": NEXT_STATE.get(action, alert.state),
            "updated_at": now,
            "history": [*alert.history, AlertEvent(at=now, action=action, by=by, comment=comment or None)],
        }
    )
    store.save_alert(updated)
    _forget(queries.alerts, queries.alert, queries.overview)
    return updated


def dismiss_candidate(store: Store, candidate: Candidate, by: str) -> Candidate:
    """Hide it until it grows past `candidates.regrowth` times its posts now (the alert cycle brings it back then)."""
    dismissed = candidate.model_copy(update={"state": "dismissed", "dismissed_posts": candidate.posts, "by": by, "updated_at": utcnow()})
    store.save_candidate(dismissed)
    _forget(queries.candidates)
    return dismissed


def promote_candidate(config_dir: Path, store: Store, candidate: Candidate, *, narrative_id: str, label: str, description: str, terms: str, by: str) -> Promoted:
    """Write the narrative's watchlist file and re-tag history with it; `terms` is one term or `#hashtag` per line."""
    try:
        promoted = promote(config_dir, store, candidate, narrative_id=narrative_id, label=label, description=description, terms=terms.splitlines(), by=by)
    except PromotionError as exc:
        raise InvalidInput(str(exc)) from None
    _forget(queries.candidates, queries.watchlists, queries.subject, queries.overview, queries.search, queries.origin)
    return promoted


def check_email(address: str) -> str:
    address = address.strip()
    try:
        return plain_address(address)
    except AddressError:
        raise InvalidInput(f"{address!r} is not an email address (expected name@example.org)") from None


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60]


def save_subscription(
    store: Store, subscription_id: str | None, email: str, rules: list[str], mode: Literal["immediate", "digest"], taken: Iterable[Subscription] = ()
) -> Subscription:
    """Create or replace a subscription; the id is kept when editing, and a new one gets an id no other (`taken`) has."""
    email = check_email(email)
    if not rules:
        raise InvalidInput("choose at least one rule (or all rules)")
    known = {sub.id: sub for sub in [*taken, *store.list_subscriptions()]}
    if subscription_id is None:
        base = slug(email) or "subscription"
        subscription_id = base if base not in known else next(f"{base}-{n}" for n in range(2, len(known) + 3) if f"{base}-{n}" not in known)
    previous = known.get(subscription_id)
    subscription = Subscription(
        id=subscription_id,
        email=email,
        rules=_normalised(rules),
        mode=mode,
        created_at=previous.created_at if previous else utcnow(),
    )
    store.save_subscription(subscription)
    _forget(queries.stored_subscriptions)
    return subscription


def delete_subscription(store: Store, subscription_id: str) -> bool:
    deleted = store.delete_subscription(subscription_id)
    _forget(queries.stored_subscriptions)
    return deleted


def save_search(store: Store, name: str, query: PostQuery) -> SavedSearch:
    """Keep the search's text and filters, not its period or paging: a saved search watches new posts."""
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("give the search a name")
    if not query.text and query == PostQuery(sort=query.sort, since=query.since, until=query.until):
        raise InvalidInput("a saved search needs words or at least one filter")
    saved = SavedSearch(id=slug(name) or "search", name=name, query=query.model_dump(mode="json", exclude={"since", "until", "limit", "offset"}, exclude_defaults=True))
    store.save_search(saved)
    _forget(queries.saved_searches)
    return saved


def subscribe(store: Store, email: str, rule_id: str, mode: Literal["immediate", "digest"], taken: Iterable[Subscription] = ()) -> Subscription:
    """One click on the Search page: the address's dashboard subscription in that mode gains the rule (a new one when it
    has none), so subscribing twice, or to several searches, never sends the same alert twice."""
    email = check_email(email)
    same = next((sub for sub in store.list_subscriptions() if sub.email.lower() == email.lower() and sub.mode == mode), None)
    if same is None:
        return save_subscription(store, None, email, [rule_id], mode, taken)
    if rule_id in same.rules:
        return same
    return save_subscription(store, same.id, email, [*same.rules, rule_id], mode, taken)


def _normalised(rules: list[str]) -> list[str]:
    """`*` covers every rule, but a saved search is only watched while a subscription names its rule: keep those."""
    if EVERY in rules:
        return [EVERY, *sorted({rule for rule in rules if rule.startswith(SEARCH_RULE_PREFIX)})]
    return sorted(dict.fromkeys(rules))


def delete_search(store: Store, search_id: str) -> bool:
    deleted = store.delete_search(search_id)
    _forget(queries.saved_searches)
    return deleted


def _forget(*cached: Any) -> None:
    """Drop the cached answers a write made stale, so the next run reads the store again."""
    for function in cached:
        function.clear()
