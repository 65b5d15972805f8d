"""The evidence archive: raw responses kept gzip-compressed on disk, addressed by their SHA-256.

Every post carries the hash of the response it was parsed from (`Post.raw_sha256`); for sources with
`archive: true` the response itself is kept here, so an analyst can show what the platform served even
after the post is deleted. Identical bodies are stored once. Next to each body, a small JSON file says
where and when it was first fetched. Retention (`schedule.retention`) deletes the bodies first fetched before its cut-off.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from vigie.models import sha256_hex


class EvidenceError(Exception):
    """The archive cannot be read or written; the message names the file."""


@dataclass(frozen=True)
class Fetch:
    """Where a raw body came from."""

    url: str
    status: int
    fetched_at: datetime
    content_type: str | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["fetched_at"] = self.fetched_at.isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Fetch:
        data = json.loads(text)
        data["fetched_at"] = datetime.fromisoformat(data["fetched_at"])
        return cls(**data)


class EvidenceArchive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str, suffix: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise EvidenceError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / f"{sha256}{suffix}"

    def put(self, body: bytes, fetch: Fetch, sha256: str | None = None) -> str:
        """Keep a body (once per distinct content) and return its hash."""
        sha256 = sha256 or sha256_hex(body)
        path = self._path(sha256, ".gz")
        if path.exists():
            return sha256
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(path.with_suffix(".json"), fetch.to_json().encode())
            _write_atomic(path, gzip.compress(body, compresslevel=6, mtime=0))
        except OSError as exc:
            raise EvidenceError(f"{path}: cannot archive the response: {exc.strerror or exc}") from None
        return sha256

    def get(self, sha256: str) -> bytes | None:
        """The raw body, checked against its hash; None when it was not archived."""
        path = self._path(sha256, ".gz")
        try:
            body = gzip.decompress(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise EvidenceError(f"{path}: unreadable archive: {exc}") from None
        if sha256_hex(body) != sha256:
            raise EvidenceError(f"{path}: content does not match its hash (archive altered or corrupt)")
        return body

    def fetch_of(self, sha256: str) -> Fetch | None:
        path = self._path(sha256, ".json")
        try:
            return Fetch.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise EvidenceError(f"{path}: unreadable fetch record: {exc}") from None

    def prune(self, before: datetime) -> int:
        """Delete the bodies first fetched before `before` (retention); return how many.

        A body first fetched before the cut-off holds only posts published before it, which retention deletes
        too, whenever that same body was fetched again."""
        pruned = 0
        for record in self.root.glob("??/*.json"):
            try:
                fetched_at = Fetch.from_json(record.read_text(encoding="utf-8")).fetched_at
            except FileNotFoundError:  # pruned meanwhile
                continue
            except (OSError, ValueError, TypeError, KeyError) as exc:
                raise EvidenceError(f"{record}: unreadable fetch record: {exc}") from None
            if fetched_at < before:
                record.with_suffix(".gz").unlink(missing_ok=True)
                record.unlink(missing_ok=True)
                pruned += 1
        return pruned


def _write_atomic(path: Path, data: bytes) -> None:
    """Write then rename, so a crash never leaves half a file under the final name."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
