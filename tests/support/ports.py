"""A free loopback port for the servers tests and benchmarks start (SMTP, dashboard, search-engine node)."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
