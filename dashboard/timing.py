"""How long each page's script took in the server, logged when slow: the part of an analyst's wait that the page's
own work costs, whatever their browser then spends drawing it, so an operator sees which page needs a look before
anyone complains."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

log = logging.getLogger("vigie.dashboard")


def log_if_slow(page: str, started: float, slow: timedelta) -> None:
    """Log the page's seconds since `started` (`time.perf_counter()`) at WARNING when they reach `slow`."""
    seconds = time.perf_counter() - started
    if seconds >= slow.total_seconds():
        log.warning("dashboard page %s took %.2f s in the server (dashboard.slow_page %g s)", page, seconds, slow.total_seconds())
