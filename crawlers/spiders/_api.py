"""What the Mastodon, Reddit and Bluesky spiders share: JSON pages, items that may be malformed, timestamps, links."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scrapy.spidermiddlewares.httperror import HttpError

from crawlers.spiders.base import MalformedPost, PageError, SourceSpider
from vigie.models import as_utc

if TYPE_CHECKING:
    import scrapy
    from scrapy.http import Response
    from twisted.python.failure import Failure

    from vigie.models import Post


class ItemError(ValueError):
    """One item of a page cannot be read; str() is the drop reason counted for the source, so keep it generic."""

    def __init__(self, reason: str, native_id: str | None = None) -> None:
        super().__init__(reason)
        self.native_id = native_id


class ApiSpider(SourceSpider):
    """A spider whose pages are JSON documents holding a list of posts."""

    def refusal_hint(self) -> str:
        """What to do when the API asks for an account (401/403): said in the log after the HTTP error."""
        return "this API does not serve it to visitors without an account"

    def page_request(self, url: str, callback: Any = None, **kwargs: Any) -> scrapy.Request:
        return super().page_request(url, callback, errback=self.refused, **kwargs)

    def refused(self, failure: Failure) -> None:
        """The HTTP error is already the source's error line; for 401 and 403 the log also says why it happens."""
        if not failure.check(HttpError) or failure.value.response.status not in (401, 403):
            return
        response = failure.value.response
        self.logger.warning(
            "source %s: %s refused without an account (HTTP %d%s): %s",
            self.source.id, response.url, response.status, _api_error(response.body), self.refusal_hint(),
        )

    def read_json(self, response: Response) -> Any:
        try:
            return json.loads(response.body)
        except UnicodeDecodeError as exc:
            raise PageError(f"{response.url}: the response is not UTF-8 JSON ({exc.reason} at byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise PageError(f"{response.url}: malformed JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
        except RecursionError:
            raise PageError(f"{response.url}: JSON nested too deeply to read") from None

    def posts(self, response: Response, items: Iterable[Any], fields_of: Callable[[Any], dict[str, Any]]) -> Iterator[Post | MalformedPost]:
        """One Post per item; an item that cannot be read becomes a MalformedPost (dropped and counted), not a failed page."""
        for item in items:
            try:
                fields = fields_of(item)
            except ItemError as exc:
                yield MalformedPost(str(exc), response.url, exc.native_id)
            except (LookupError, TypeError, AttributeError, ValueError) as exc:
                yield MalformedPost(f"unexpected item shape ({type(exc).__name__})", response.url)
            else:
                yield self.make_post(response, **fields)


def _api_error(body: bytes) -> str:
    """`, AuthMissing: Authentication Required` from a JSON error body (XRPC, Mastodon, Reddit), when it is one."""
    try:
        payload = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(payload, dict):
        return ""
    words = [str(payload[key]) for key in ("error", "reason", "message") if isinstance(payload.get(key), str) and payload[key]]
    return f", {': '.join(words)}" if words else ""


def parse_timestamp(value: str | float | int) -> datetime:
    """ISO 8601 (`2023-04-30T06:26:07.001Z`) or Unix seconds, as UTC."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        parsed = datetime.fromisoformat(str(value))
    except (ValueError, OverflowError, OSError):
        raise ItemError("unreadable date") from None
    return as_utc(parsed)


def unique(items: Iterable[str], lower: bool = False) -> list[str]:
    """Items in order of first appearance, without repeats (lower-cased first when `lower`)."""
    return list(dict.fromkeys(item.lower() if lower else item for item in items))
