"""Logs of a long-running service: one line per event on stdout and in a rotating file under the data dir.

Fields given with `extra={...}` (source, job, run_id...) are kept as fields: `key=value` after the
message in text mode, JSON keys with `log.json_lines: true` so a log shipper can index them.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from vigie.config import LogSettings

_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_HANDLER_MARK = "_vigie_handler"


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    """The `extra=` fields of a record."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {"ts": _timestamp(record), "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        entry.update(record_fields(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{key}={value}" for key, value in record_fields(record).items())
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if fields:
            line += f"  {fields}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(settings: LogSettings, data_dir: Path, stream: TextIO | None = None) -> Path | None:
    """Install the stdout and rotating-file handlers on the root logger (again on each call: no duplicates).

    Returns the log file's path, or None when `log.file` is unset.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
        handler.close()
    formatter: logging.Formatter = JsonLinesFormatter() if settings.json_lines else TextFormatter()
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stdout)]
    path = None
    if settings.file:
        path = data_dir / settings.file
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(path, maxBytes=settings.max_bytes, backupCount=settings.backups, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        setattr(handler, _HANDLER_MARK, True)
        root.addHandler(handler)
    root.setLevel(settings.level)
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    return path
