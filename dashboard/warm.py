"""What the pages show before any choice, kept computed in the background: the Overview, the first narrative of the
watchlists, Sources and the open alerts, each for the default period.

Their answers are keyed by the hour (the periods end with it) and expire with the query cache, so without this the
first analyst after a restart, and on every hour, waits for each of them; ten arriving together all wait for the
same computation. A round asks the shared cache, so a fresh answer costs nothing, an expired one is recomputed once
in the background, and only a new hour's answers are computed here (one after the other, not all at once).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from dashboard import periods, queries
from dashboard.session import hour_end, store_key
from store import Store, open_store
from vigie.config import Config, load_config

log = logging.getLogger("vigie.dashboard")

ROUND_SECONDS = 20.0


def first_views(store: Store, key: str, config: Config, now: datetime) -> None:
    """Ask the cache for each page's answers as the page asks for them before the analyst picks anything."""
    since = now - periods.PRESETS[periods.DEFAULT]
    queries.overview_of(store, key, config, since, now, now)
    queries.source_health(store, key, queries.source_specs(s for s in config.sources if s.enabled), now)
    queries.source_health(store, key, queries.source_specs(config.sources), now)
    queries.posts_per_day(store, key, now)
    shown = queries.alerts(store, key, ("open",), queries.ALERTS_SHOWN)
    if shown and (samples := queries.sample_post_ids(shown[0])):  # the first is open
        queries.posts(store, key, samples)
    narratives = queries.watchlists(str(config.config_dir)).narratives
    if narratives:
        first = next(iter(narratives))
        filters = queries.subject_query("narrative", first, since, now)
        view = queries.subject(store, key, "narrative", first, since, now)
        queries.origin(store, key, filters)
        if view.clusters:  # the first is picked
            queries.origin(store, key, queries.cluster_query(view.clusters[0].cluster_id, now))
        queries.search(store, key, queries.posts_page(filters))


def keep_warm(stop: threading.Event, every: float = ROUND_SECONDS) -> None:
    """Rounds of `first_views` until `stop` is set. A config or store that fails is one log line until it works."""
    store: Store | None = None
    failing = False
    while not stop.is_set():
        try:
            if store is None:
                config = load_config()
                if not config.settings.dashboard.warm_first_views:
                    return
                store, key = open_store(config), store_key(config)
            first_views(store, key, config, hour_end())
            if failing:
                log.info("dashboard first views computed again")
            failing = False
        except Exception as exc:  # noqa: BLE001 - a failed round must not end the rounds; the pages show the error
            if not failing:
                log.warning("dashboard first views not computed in advance: %s: %s (trying again every %g s)", type(exc).__name__, exc, every)
            failing = True
        stop.wait(every)
    if store is not None:
        store.close()
