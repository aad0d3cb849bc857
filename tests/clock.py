"""A clock for tests that moves only when told: watchers waiting on it wake when it passes
their deadline, so a test of "after 2 seconds" takes no 2 seconds and no luck."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

EPOCH = datetime(2026, 12, 1, tzinfo=timezone.utc)


class FakeClock:
    def __init__(self) -> None:
        self._now = 0.0
        self._moved = threading.Condition()

    def monotonic(self) -> float:
        with self._moved:
            return self._now

    def wait(self, event: threading.Event, seconds: float) -> bool:
        with self._moved:
            deadline = self._now + seconds
            while not event.is_set() and self._now < deadline:
                self._moved.wait(0.01)  # also notices `event`, which notifies no condition
            return event.is_set()

    def advance(self, seconds: float) -> None:
        with self._moved:
            self._now += seconds
            self._moved.notify_all()

    def utc(self) -> datetime:
        """The same clock as a UTC date-time (what leases are judged by)."""
        return EPOCH + timedelta(seconds=self.monotonic())

    def sleep(self, seconds: float) -> None:
        """A sleep that only moves the clock: a poll loop runs at once."""
        self.advance(seconds)
