"""The process `vigie dashboard` serves from (`dashboard/server.py`)."""

from __future__ import annotations

import importlib
import sys

import pytest


def test_the_server_hands_the_gil_to_its_event_loop_within_a_millisecond() -> None:
    """Sessions' scripts share the process with the event loop that sends their pages (see SWITCH_INTERVAL)."""
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        server = importlib.reload(importlib.import_module("dashboard.server"))
        assert sys.getswitchinterval() == pytest.approx(server.SWITCH_INTERVAL) == pytest.approx(0.001)
    finally:
        sys.setswitchinterval(before)
