"""Crawl processes forked from a warm launcher, so `vigie up` pays the imports and the model loading once.

The launcher is multiprocessing's fork server with `crawlers.warm` preloaded: it imports the crawl stack
and loads the enrichment models when the service starts, then forks one process per scheduled crawl.
Each crawl is still its own process (a fresh Twisted reactor, a crash stays there) in its own process
group, runs what `vigie crawl --json SOURCE_ID` runs, with the same environment, and writes its output to
a socket the service relays into its log, as it does for a crawl started as a command.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from multiprocessing import forkserver
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from crawlers.warm import WARM_UP_ENV, WarmUp

log = logging.getLogger("vigie.scheduler")

WARM_MODULE = "crawlers.warm"

_start_lock = threading.Lock()
"""Held while a process is being forked: `Process.start()` also polls every other child multiprocessing
knows of, and two threads reading one child's exit status at once would lose it."""


def forking_available() -> bool:
    return "forkserver" in multiprocessing.get_all_start_methods()


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """os.environ has `env`'s values inside, so the fork server, if it (re)starts now, inherits them and reads
    the config from them. Only the keys that differ are set (other threads may read os.environ meanwhile)."""
    saved = {key: os.environ.get(key) for key, value in env.items() if os.environ.get(key) != value}
    os.environ.update({key: env[key] for key in saved})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class ForkedCrawl:
    """A crawl process forked from the launcher, with the parts of `subprocess.Popen` the service uses
    (`scheduler.child.Child`)."""

    def __init__(self, process: BaseProcess, output: socket.socket) -> None:
        self._process = process
        self.pid: int = process.pid or 0
        self.stdout = output.makefile("r", encoding="utf-8", errors="replace")
        output.close()  # the file object keeps the socket open until it is closed

    @property
    def returncode(self) -> int | None:
        return self.poll()

    def poll(self) -> int | None:
        with _start_lock:
            return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        if not wait([self._process.sentinel], timeout):
            raise subprocess.TimeoutExpired(f"crawl process {self.pid}", timeout or 0.0)
        code = self.poll()
        assert code is not None
        return code


def _forked(output: socket.socket, target: Callable[..., object], args: tuple[object, ...]) -> None:
    """In the forked process: its own session (so a signal to the group reaches all of it), its output to `output`."""
    os.setsid()
    for fd in (1, 2):
        os.dup2(output.fileno(), fd)
    output.close()
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)
    target(*args)


def _vigie_crawl(source_id: str, env: dict[str, str]) -> None:
    """`vigie crawl --json SOURCE_ID`, through the CLI's own code (same output, same exit code)."""
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["vigie", "crawl", "--json", source_id]
    from enrich.language import LOADED_IN
    from vigie.cli import main

    try:
        main()
    finally:
        print(models_line(LOADED_IN, os.getpid()), file=sys.stderr, flush=True)


def models_line(loaded_in: Mapping[str, int], pid: int) -> str:
    """Where the language models this crawl used were loaded: by the launcher before it forked, or by the crawl."""
    here = sorted(name for name, where in loaded_in.items() if where == pid)
    before = sorted(name for name, where in loaded_in.items() if where != pid)
    return f"language models loaded before this crawl was forked: {', '.join(before) or 'none'}; loaded by the crawl: {', '.join(here) or 'none'}"


def _report(output: socket.socket) -> None:
    """In a forked process: what the launcher's warm-up did, as one JSON line."""
    from crawlers.warm import REPORT

    report = REPORT or WarmUp(0.0, error="the launcher did not warm up")
    with output:
        output.sendall(json.dumps({"cpu_seconds": report.cpu_seconds, "error": report.error, "models": list(report.models)}).encode() + b"\n")


class CrawlLauncher:
    """The fork server of one `vigie up`: started with the service, warmed in the background, stopped with it.

    One per process (multiprocessing has one fork server per process).
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = {**env, WARM_UP_ENV: "1"}
        """The crawls' environment (`jobs.child_env`), where the launcher reads the config, and asked to warm up."""
        self.warm_up: WarmUp | None = None
        self.warm_seconds = 0.0
        """Wall time from start to warm."""
        self._context = multiprocessing.get_context("forkserver")
        self._ready = threading.Event()
        self._usable = False

    def start(self) -> None:
        """Start the fork server (it warms up in the background) and a thread that waits until it is warm."""
        self._context.set_forkserver_preload([WARM_MODULE])
        started = time.perf_counter()
        with _start_lock, _environment(self.env):
            forkserver.ensure_running()
        threading.Thread(target=self._wait_warm, args=(started,), name="crawl launcher warm-up", daemon=True).start()

    def _wait_warm(self, started: float) -> None:
        try:
            ours, theirs = socket.socketpair()
            with ours:
                with theirs, _start_lock, _environment(self.env):
                    process = self._context.Process(target=_report, args=(theirs,), name="crawl launcher warm-up report")
                    process.start()
                line = ours.makefile("r", encoding="utf-8").readline()
            process.join()
            report = json.loads(line)
            self.warm_up = WarmUp(report["cpu_seconds"], report["error"], tuple(report["models"]))
            self._usable = True
        except (OSError, EOFError, ValueError, KeyError) as exc:  # the fork server died, or could not report
            log.warning("crawl launcher unavailable (%s): crawls run as commands, each loading its own models", exc)
        finally:
            self.warm_seconds = time.perf_counter() - started
            self._ready.set()
        if self.warm_up is None:
            return
        if self.warm_up.error:
            log.warning("crawl launcher could not warm up: %s; each crawl loads its own models", self.warm_up.error)
        else:
            log.info(
                "crawl launcher warm: crawl stack imported and %s models loaded once",
                " and ".join(self.warm_up.models) or "no",
                extra={"cpu_seconds": round(self.warm_up.cpu_seconds, 2), "seconds": round(self.warm_seconds, 2)},
            )

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for the warm-up; False when the launcher cannot fork crawls (they then run as commands)."""
        return self._ready.wait(timeout) and self._usable

    def launch(self, source_id: str, env: Mapping[str, str]) -> ForkedCrawl:
        """Fork `vigie crawl --json SOURCE_ID`, with `env` as its environment."""
        return self.fork(_vigie_crawl, (source_id, dict(env)), name=f"crawl {source_id}")

    def fork(self, target: Callable[..., object], args: tuple[object, ...], *, name: str) -> ForkedCrawl:
        """Fork `target(*args)` (a module-level function) from the launcher, in its own session; it exits with
        `target`'s exit code (SystemExit) and its output is the returned process's `stdout`."""
        ours, theirs = socket.socketpair()
        try:
            with _start_lock, _environment(self.env):
                process = self._context.Process(target=_forked, args=(theirs, target, args), name=name)
                process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return ForkedCrawl(process, ours)

    def stop(self) -> None:
        """Stop the fork server (after the crawls: each holds it open until it exits). multiprocessing has no
        public call for it (its fork server ends with the process that started it), hence the private one."""
        with _start_lock:
            forkserver._forkserver._stop()
