"""The process tree under a bench, read from /proc: which processes a service or a browser started, and what they run."""

from __future__ import annotations

import os
from pathlib import Path


def children() -> dict[int, list[int]]:
    """Each running process's children, by parent pid."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):  # the process ended meanwhile
                continue
            tree.setdefault(parent, []).append(int(entry))
    return tree


def cmdline(pid: int) -> str:
    """The process's command line, its arguments separated by spaces ("" once it has ended)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def descendants(tree: dict[int, list[int]], pid: int) -> list[int]:
    found, stack = [], list(tree.get(pid, []))
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(tree.get(child, []))
    return found
