"""The pages' shared answers: one per function and arguments, for every session, kept as long as it costs.

An answer is fresh for the TTL or for `cost_factor` times what computing it took, whichever is longer. Past that, the
next visit gets it at once while one background thread computes it again; past twice that, a visit waits for a new
one. So a count that takes 20 ms follows new posts within a TTL, while a month's aggregate over millions of posts
that takes 3 s is computed again at most every few minutes, not every 30 s, and ten analysts opening it after a quiet
spell wait for one computation, not ten (Metabase's "adaptive" cache policy works the same way).

Answers are shared objects: callers read them and never change them.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar

from pydantic import BaseModel

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class _Entry:
    value: Any
    computed_at: float
    fresh_for: float


class Cached(Generic[P, R]):
    """A function whose answers the cache keeps; `clear()` forgets them (a write made them stale)."""

    def __init__(self, cache: SharedCache, function: Callable[P, R]) -> None:
        self._cache, self._function = cache, function
        self._signature = inspect.signature(function)
        self.generation = 0
        functools.update_wrapper(self, function)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._cache.get(self._key(args, kwargs), self, lambda: self._function(*args, **kwargs))

    def prefetch(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Start computing the answer in the background unless it is kept: a page that asks for it after other slow
        answers gets them computed side by side, then waits for this one instead of computing it again."""
        self._cache.prefetch(self._key(args, kwargs), self, lambda: self._function(*args, **kwargs))

    def _key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Hashable, ...]:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return (self, *((name, _frozen(value)) for name, value in bound.arguments.items() if not name.startswith("_")))

    def clear(self) -> None:
        self._cache.forget(self)


class SharedCache:
    """Answers shared by every session of the dashboard's process, at most `max_entries` (the least recently used go)."""

    def __init__(self, ttl: float, *, cost_factor: float = 60.0, max_entries: int = 512, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.cost_factor, self.max_entries, self.clock = ttl, cost_factor, max_entries, clock
        self._entries: OrderedDict[tuple[Hashable, ...], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: weakref.WeakValueDictionary[tuple[Hashable, ...], Any] = weakref.WeakValueDictionary()
        self._refreshing: set[tuple[Hashable, ...]] = set()
        self.generation = 0
        self._refresher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vigie-cache-refresh")

    def __call__(self, function: Callable[P, R]) -> Cached[P, R]:
        return Cached(self, function)

    def get(self, key: tuple[Hashable, ...], owner: Cached[Any, Any], compute: Callable[[], Any]) -> Any:
        entry = self._kept(key)
        if entry is not None:
            age = self.clock() - entry.computed_at
            if age < entry.fresh_for:
                return entry.value
            if age < 2 * entry.fresh_for:
                self._in_background(self._refresh, key, owner, compute)
                return entry.value
        return self._fill(key, owner, compute)

    def prefetch(self, key: tuple[Hashable, ...], owner: Cached[Any, Any], compute: Callable[[], Any]) -> None:
        if not self._shown(self._kept(key)):
            self._in_background(self._prefetch, key, owner, compute)

    def _fill(self, key: tuple[Hashable, ...], owner: Cached[Any, Any], compute: Callable[[], Any]) -> Any:
        with self._compute_lock(key):
            entry = self._kept(key)  # another visit may have computed it while this one waited
            if entry is not None and self._shown(entry):
                return entry.value
            return self._compute(key, owner, compute)

    def _prefetch(self, key: tuple[Hashable, ...], owner: Cached[Any, Any], compute: Callable[[], Any]) -> None:
        try:
            self._fill(key, owner, compute)
        except Exception as exc:  # noqa: BLE001 - the page's own call computes it again and shows the error
            log.debug("prefetching %s failed: %s", owner.__name__, exc)

    def forget(self, owner: Cached[Any, Any] | None = None) -> None:
        """Drop one function's answers (all of them without `owner`); computations under way are not kept."""
        with self._lock:
            for key in [key for key in self._entries if owner is None or key[0] is owner]:
                del self._entries[key]
            if owner is None:
                self.generation += 1
            else:
                owner.generation += 1

    def _kept(self, key: tuple[Hashable, ...]) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def _compute_lock(self, key: tuple[Hashable, ...]) -> Any:
        with self._lock:
            lock = self._computing.get(key)
            if lock is None:
                lock = self._computing[key] = threading.Lock()
            return lock

    def _compute(self, key: tuple[Hashable, ...], owner: Cached[Any, Any], compute: Callable[[], Any]) -> Any:
        generations = (owner.generation, self.generation)
        started = self.clock()
        value = compute()
        finished = self.clock()
        with self._lock:
            if generations == (owner.generation, self.generation):
                self._entries[key] = _Entry(value, finished, max(self.ttl, self.cost_factor * (finished - started)))
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return value

    def _shown(self, entry: _Entry | None) -> bool:
        """Whether a kept answer may still be shown (fresh, or stale within twice its freshness)."""
        return entry is not None and self.clock() - entry.computed_at < 2 * entry.fresh_for

    def _in_background(self, task: Callable[..., None], key: tuple[Hashable, ...], owner: Cached[Any, Any], compute: Callable[[], Any]) -> None:
        """Run `task` on the refresher's threads, one at a time per key."""
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def run() -> None:
            try:
                task(key, owner, compute)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        self._refresher.submit(run)

    def _refresh(self, key: tuple[Hashable, ...], owner: Cached[Any, Any], compute: Callable[[], Any]) -> None:
        try:
            with self._compute_lock(key):
                self._compute(key, owner, compute)
        except Exception as exc:  # noqa: BLE001 - the kept answer stays until it expires; a visit then sees the error
            log.warning("refreshing %s in the background failed, the kept answer stays: %s", owner.__name__, exc)


def _frozen(value: Any) -> Hashable:
    """A hashable stand-in for an argument: pydantic models (queries) by their fields."""
    if isinstance(value, BaseModel):
        return (type(value).__qualname__, value.model_dump_json())
    return value
