"""The dev stack's restart rule on real child processes, with a clock the test moves."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from sojourn.dev.supervisor import Backoff, Component, GaveUp, Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _component(name: str, code: str, log_path: Path) -> Component:
    def launch() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", code], start_new_session=True)

    return Component(name, launch, log_path)


def _wait_dead(component: Component) -> None:
    component.process.wait(10)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_dead_component_is_restarted_after_a_doubling_delay_and_the_others_are_left_alone(
        tmp_path: Path, clock: Clock, caplog):
    caplog.set_level(logging.INFO, "sojourn.dev.supervisor")
    dying = _component("worker", "import sys; sys.exit(3)", tmp_path / "worker.log")
    steady = _component("api", "import time; time.sleep(60)", tmp_path / "api.log")
    supervisor = Supervisor([dying, steady], Backoff(first=1, cap=4, stable_after=60, give_up_after=10),
                            clock=clock)
    supervisor.start(dying)
    supervisor.start(steady)
    steady_pid = steady.process.pid
    try:
        delays = []
        for _ in range(4):
            _wait_dead(dying)
            supervisor.check()  # notices the death
            delays.append(dying.restart_at - clock.now)
            first_pid = dying.process.pid
            clock.now += delays[-1] - 0.01
            supervisor.check()
            assert dying.process.pid == first_pid, "restarted before its delay was over"
            clock.now += 0.01
            supervisor.check()
            assert dying.process.pid != first_pid
        assert delays == [1, 2, 4, 4]  # doubled, then capped
        assert steady.process.pid == steady_pid and steady.process.poll() is None
        died = [r.getMessage() for r in caplog.records if " died " in r.getMessage()]
        assert died[0] == (f"worker died (exit 3) after 0.0s; see {tmp_path / 'worker.log'}; "
                           "restarting in 1s (death 1 in a row, giving up at 10)")
        assert sum("worker restarted (pid " in r.getMessage() for r in caplog.records) == 4
    finally:
        for component in (dying, steady):
            component.process.kill()
            component.process.wait()


def test_a_component_that_keeps_dying_soon_after_starting_is_given_up_on(tmp_path: Path, clock: Clock):
    dying = _component("api", "import sys; sys.exit(1)", tmp_path / "api.log")
    supervisor = Supervisor([dying], Backoff(first=1, cap=30, stable_after=60, give_up_after=3), clock=clock)
    supervisor.start(dying)
    for _ in range(2):
        _wait_dead(dying)
        supervisor.check()
        clock.now += 30
        supervisor.check()
    _wait_dead(dying)
    with pytest.raises(GaveUp, match=r"api died \(exit 1\) after 0.0s, 3 times in a row within 60s"):
        supervisor.check()


def test_a_component_that_ran_long_enough_starts_counting_again(tmp_path: Path, clock: Clock):
    dying = _component("worker", "import sys; sys.exit(1)", tmp_path / "worker.log")
    supervisor = Supervisor([dying], Backoff(first=1, cap=30, stable_after=60, give_up_after=2), clock=clock)
    supervisor.start(dying)
    for _ in range(5):  # would be given up on at the second death if each came soon after a start
        _wait_dead(dying)
        clock.now += 61
        supervisor.check()
        assert dying.deaths == 1 and dying.restart_at == clock.now + 1
        clock.now += 1
        supervisor.check()


def test_a_failed_restart_counts_as_a_death(tmp_path: Path, clock: Clock, caplog):
    attempts = []

    def launch() -> subprocess.Popen:
        attempts.append(clock.now)
        if len(attempts) > 1:
            raise TimeoutError("postgres did not accept connections")
        return subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)

    postgres = Component("postgres", launch, tmp_path / "postgres.log")
    supervisor = Supervisor([postgres], Backoff(first=1, cap=30, stable_after=60, give_up_after=3), clock=clock)
    supervisor.start(postgres)
    _wait_dead(postgres)
    supervisor.check()
    clock.now += 1
    supervisor.check()  # the restart raises: scheduled again, twice as late
    assert postgres.deaths == 2 and postgres.restart_at == clock.now + 2
    assert "postgres died (restart failed: postgres did not accept connections)" in caplog.text
    clock.now += 2
    with pytest.raises(GaveUp):
        supervisor.check()
    assert len(attempts) == 3

