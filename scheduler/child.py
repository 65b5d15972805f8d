"""Work that runs in child processes: crawls (Twisted's reactor cannot be restarted in one process) and the dashboard.

A child is a command (`subprocess.Popen`) or a crawl forked from the warm launcher (scheduler/launcher.py),
both handled alike. Each child gets its own process group, so a signal reaches the crawler and whatever it
started, and a terminal's Ctrl-C reaches only `vigie up`, which then stops its children in order: SIGTERM
first (Scrapy closes the spider and its pipelines flush their batch), SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

log = logging.getLogger("vigie.child")

OUTPUT_TAIL_LINES = 20


class Child(Protocol):
    """What the service needs of a child process (`subprocess.Popen` has it): its output merged into `stdout`."""

    pid: int
    stdout: IO[str] | None

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


@dataclass(frozen=True)
class ChildResult:
    returncode: int | None
    timed_out: bool = False
    stopped: bool = False
    """Stopped because the service is shutting down (or never started for that reason)."""
    killed: bool = False
    """It did not exit after SIGTERM and was killed."""
    output_tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.stopped

    def error_line(self, timeout: float) -> str:
        """One line saying why the run failed, for the crawl-run log."""
        if self.timed_out:
            how = "killed (SIGKILL)" if self.killed else "stopped (SIGTERM)"
            return f"run timed out after {timeout:g}s and was {how}"
        if self.stopped:
            return "stopped because the service was shutting down" + (" (killed)" if self.killed else "")
        last = next((line for line in reversed(self.output_tail) if line.strip()), "no output")
        if self.returncode is not None and self.returncode < 0:
            return f"crashed: killed by signal {signal.Signals(-self.returncode).name}; last output: {last}"
        return f"crashed: exit code {self.returncode}; last output: {last}"


def terminate(process: Child, grace: float) -> bool:
    """SIGTERM to the child's process group, SIGKILL if it is still there after `grace` seconds.

    Returns True when it had to be killed.
    """
    if process.poll() is not None:
        return False
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(grace)
        return False
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait()
        return True


def _signal_group(process: Child, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def spawn(argv: Sequence[str], env: Mapping[str, str] | None = None, capture: bool = True) -> subprocess.Popen:
    return subprocess.Popen(
        list(argv),
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        start_new_session=True,
        text=True,
        encoding="utf-8",
        errors="replace",
    )


def _relay(process: Child, name: str, tail: deque[str], level: int = logging.INFO) -> None:
    """Pass the child's output on to our log at `level`, line by line, keeping the last lines for the error message."""
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip()
        if line:
            tail.append(line)
            log.log(level, "%s", line, extra={"child": name})
    process.stdout.close()


class ChildProcesses:
    """Runs commands to completion in child processes, and stops them all when the service stops."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._running: dict[int, Child] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def run(self, start: Callable[[], Child], *, timeout: float, name: str, output_level: int = logging.INFO) -> ChildResult:
        """Start a child (`start()`, e.g. `lambda: spawn(argv, env)`), stopping it when it runs longer than `timeout` seconds.

        Its output goes to the log at `output_level` and its last lines are in the result."""
        with self._lock:
            if self._stopping.is_set():
                return ChildResult(returncode=None, stopped=True)
            process = start()
            self._running[process.pid] = process
        tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
        relay = threading.Thread(target=_relay, args=(process, name, tail, output_level), name=f"relay {name}", daemon=True)
        relay.start()
        timed_out = killed = False
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            log.warning("%s still running after %gs: stopping it", name, timeout, extra={"child": name})
            killed = terminate(process, self.grace)
        finally:
            with self._lock:
                self._running.pop(process.pid, None)
        relay.join(self.grace)
        stopped = self._stopping.is_set() and process.returncode != 0
        killed = killed or (stopped and process.returncode == -signal.SIGKILL)
        return ChildResult(returncode=process.returncode, timed_out=timed_out, stopped=stopped, killed=killed, output_tail=list(tail))

    def stop_all(self) -> None:
        """Refuse new runs, SIGTERM every running child, SIGKILL those still there after the grace period."""
        with self._lock:
            self._stopping.set()
            processes = list(self._running.values())
        threads = [threading.Thread(target=terminate, args=(process, self.grace)) for process in processes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def kill_all(self) -> None:
        """No more waiting (a second Ctrl-C)."""
        with self._lock:
            self._stopping.set()
            processes = list(self._running.values())
        for process in processes:
            _signal_group(process, signal.SIGKILL)


class SupervisedChild:
    """A long-running child (the dashboard), restarted with a growing delay when it dies."""

    MAX_BACKOFF = 60.0

    def __init__(self, argv: Sequence[str], *, name: str, env: Mapping[str, str] | None = None, grace: float = 10.0) -> None:
        self.argv = list(argv)
        self.name = name
        self.env = env
        self.grace = grace
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self._backoff = 1.0
        self._restart_at = 0.0
        self._started_at = 0.0
        self._tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)

    def start(self) -> None:
        self.process = spawn(self.argv, self.env)
        self._started_at = time.monotonic()
        threading.Thread(target=_relay, args=(self.process, self.name, self._tail), name=f"relay {self.name}", daemon=True).start()
        log.info("%s started", self.name, extra={"child": self.name, "pid": self.process.pid})

    def check(self, now: float | None = None) -> None:
        """Restart the child if it exited, waiting longer after each quick failure."""
        now = time.monotonic() if now is None else now
        if self.process is None:
            return
        if self.process.poll() is None:
            if now - self._started_at > self.MAX_BACKOFF:
                self._backoff = 1.0
            return
        if not self._restart_at:
            last = next((line for line in reversed(self._tail) if line.strip()), "no output")
            log.error("%s exited with code %s; restarting in %gs; last output: %s", self.name, self.process.returncode, self._backoff, last, extra={"child": self.name})
            self._restart_at = now + self._backoff
            self._backoff = min(self._backoff * 2, self.MAX_BACKOFF)
        elif now >= self._restart_at:
            self._restart_at = 0.0
            self.restarts += 1
            self.start()

    def stop(self) -> None:
        if self.process is not None and terminate(self.process, self.grace):
            log.warning("%s did not stop within %gs and was killed", self.name, self.grace, extra={"child": self.name})

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            _signal_group(self.process, signal.SIGKILL)
