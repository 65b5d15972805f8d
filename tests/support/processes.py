"""Ending the servers tests start (search-engine node, Scrapyd): politely first, then for sure."""

from __future__ import annotations

import subprocess
from typing import Any


def end(process: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM, so the server closes cleanly; SIGKILL if it is still there after `timeout` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
