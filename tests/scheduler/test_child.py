"""The dashboard child is restarted when it dies, later after each quick failure, and stopped with SIGTERM."""

from __future__ import annotations

import sys

from scheduler.child import SupervisedChild
from tests.scheduler.support import wait_until


def test_a_dead_child_is_restarted_with_a_growing_delay_and_stopped_on_request() -> None:
    child = SupervisedChild([sys.executable, "-c", "print('no port for me'); raise SystemExit(3)"], name="dashboard", grace=2)
    child.start()
    first = child.process
    wait_until(lambda: first.poll() is not None, timeout=20)

    child.check(now=100.0)  # noticed: restart due one second later
    assert child.process is first and child.restarts == 0
    child.check(now=100.5)
    assert child.process is first
    child.check(now=101.0)
    assert child.restarts == 1 and child.process is not first

    second = child.process
    wait_until(lambda: second.poll() is not None, timeout=20)
    child.check(now=200.0)
    child.check(now=201.0)
    assert child.process is second  # the second failure waits two seconds
    child.check(now=202.0)
    assert child.restarts == 2

    steady = SupervisedChild([sys.executable, "-c", "import time; time.sleep(600)"], name="dashboard", grace=2)
    steady.start()
    steady.check()
    assert steady.process.poll() is None
    steady.stop()
    assert steady.process.returncode == -15  # SIGTERM was enough
