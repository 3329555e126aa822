"""The runners' timing: what wakes a runner while it gathers is taken by one step, and a runner
that defers to another waits for it, but never longer than it says."""

from __future__ import annotations

import threading
import time

from daemon.runners.loop import Runner


def _runner(**kwargs):
    steps: list[float] = []
    wake = threading.Event()
    runner = Runner("test", lambda: steps.append(time.monotonic()), wake, interval=60, **kwargs)
    runner.start()
    deadline = time.monotonic() + 5
    while not steps and time.monotonic() < deadline:  # its first step runs at once
        time.sleep(0.005)
    return runner, wake, steps


def test_wakes_while_gathering_are_taken_by_one_step():
    runner, wake, steps = _runner(gather=0.3)
    try:
        for _ in range(5):
            wake.set()
            time.sleep(0.02)
        time.sleep(0.6)
        assert len(steps) == 2, steps  # the first, and one for the five wakes
        assert steps[1] - steps[0] >= 0.29
    finally:
        runner.stop()


def test_a_runner_defers_to_busy_work_until_it_is_done_or_for_so_long():
    idle = threading.Event()  # the work it defers to is busy
    runner, wake, steps = _runner(defer_to=idle, defer_seconds=0.5)
    try:
        started = time.monotonic()
        wake.set()
        time.sleep(0.2)
        assert len(steps) == 1, "it ran while the work it defers to was busy"
        idle.set()  # done: it runs at once
        time.sleep(0.1)
        assert len(steps) == 2 and steps[1] - started < 0.3
        idle.clear()
        time.sleep(0.6)  # long enough since its last step: no waiting at all
        wake.set()
        time.sleep(0.1)
        assert len(steps) == 3
        wake.set()  # busy again, just after a step: it waits, but no longer than defer_seconds
        time.sleep(0.7)
        assert len(steps) == 4 and 0.4 < steps[3] - steps[2] < 0.65
    finally:
        runner.stop()
