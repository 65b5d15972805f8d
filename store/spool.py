"""Posts waiting on local disk while the Elasticsearch cluster is unreachable.

Each spooled batch is one append-only JSON Lines segment, numbered in the order it was written and fsynced before
`append` returns, so a crawl that spooled its posts can report them kept. Replay reads segments oldest first and
deletes a segment only once the cluster has taken all of it; a replay cut short sends that segment again, which is
harmless because posts are upserted by id. Several processes of one machine may share a spool: appends and the
listing of segments happen under one lock, and one process at a time replays.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from pydantic import ValidationError

from store.base import StoreError
from vigie.models import Post, utcnow

log = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".jsonl"
REJECTED_FILE = "rejected.jsonl"
"""Posts the cluster refused during a replay (mapping errors), with the reason: kept for a person to look at."""


@dataclass(frozen=True, slots=True)
class SpoolLine:
    """A line of a segment that is not a valid post (a segment torn by a crash mid-write)."""

    segment: Path
    line: int
    reason: str


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _ensure_dir(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.directory}: cannot create the spool folder: {exc.strerror or exc}") from exc

    @contextmanager
    def _lock(self, name: str, *, blocking: bool = True) -> Iterator[bool]:
        self._ensure_dir()
        with open(self.directory / name, "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _segments_unlocked(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(path for path in self.directory.iterdir() if path.name.endswith(SEGMENT_SUFFIX) and path.name[:-len(SEGMENT_SUFFIX)].isdigit())

    def segments(self) -> list[Path]:
        """Complete segments, oldest first (a segment being written is not listed until it is complete)."""
        if not self.directory.is_dir():
            return []
        with self._lock(".append.lock"):
            return self._segments_unlocked()

    def pending(self) -> bool:
        return bool(self._segments_unlocked())

    def append(self, posts: Sequence[Post]) -> Path:
        """Write one segment and fsync it (and the folder) before returning."""
        with self._lock(".append.lock"):
            existing = self._segments_unlocked()
            number = int(existing[-1].name[: -len(SEGMENT_SUFFIX)]) + 1 if existing else 1
            path = self.directory / f"{number:012d}{SEGMENT_SUFFIX}"
            try:
                with open(path, "xb") as handle:
                    for post in posts:
                        handle.write(post.model_dump_json().encode("utf-8") + b"\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                _fsync_dir(self.directory)
            except OSError as exc:
                path.unlink(missing_ok=True)
                raise StoreError(f"{path}: cannot spool {len(posts)} posts: {exc.strerror or exc}") from exc
        return path

    def read(self, segment: Path, batch_size: int) -> Iterator[tuple[list[Post], list[SpoolLine]]]:
        """Posts of a segment in batches, in the order they were spooled, with the lines that are not posts."""
        with open(segment, "rb") as handle:
            numbered = enumerate(handle, start=1)
            while chunk := list(islice(numbered, batch_size)):
                posts: list[Post] = []
                bad: list[SpoolLine] = []
                for number, raw in chunk:
                    try:
                        posts.append(Post.model_validate_json(raw))
                    except ValidationError as exc:
                        bad.append(SpoolLine(segment, number, str(exc.errors()[0]["msg"])))
                yield posts, bad

    def count(self) -> int:
        """Posts waiting (lines in the segments)."""
        total = 0
        for segment in self.segments():
            with open(segment, "rb") as handle:
                total += sum(1 for _ in handle)
        return total

    def discard(self, segment: Path) -> None:
        """Forget a segment the cluster has taken entirely."""
        segment.unlink(missing_ok=True)
        _fsync_dir(self.directory)

    def reject(self, rejected: Sequence[tuple[Post, str]], bad_lines: Sequence[SpoolLine]) -> None:
        """Keep what the cluster refused, and lines that were not posts, in `rejected.jsonl` with the reason."""
        if not rejected and not bad_lines:
            return
        at = utcnow().isoformat()
        with self._lock(".append.lock"), open(self.directory / REJECTED_FILE, "ab") as handle:
            for post, reason in rejected:
                handle.write(json.dumps({"at": at, "reason": reason, "post": post.to_json_dict()}, ensure_ascii=False).encode("utf-8") + b"\n")
            for line in bad_lines:
                handle.write(json.dumps({"at": at, "reason": f"{line.segment.name}:{line.line}: {line.reason}"}).encode("utf-8") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        for line in bad_lines:
            log.warning("%s:%d: not a post, kept in %s: %s", line.segment, line.line, REJECTED_FILE, line.reason)

    @contextmanager
    def replaying(self) -> Iterator[bool]:
        """True when this process may replay; False while another process is replaying the same spool."""
        with self._lock(".replay.lock", blocking=False) as mine:
            yield mine
