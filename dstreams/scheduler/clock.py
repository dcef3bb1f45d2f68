"""Clocks the scheduler reads: the system clock in production, a manual clock in tests."""
from __future__ import annotations

import threading
import time


class Clock:
    """What the scheduler needs from time: now, and waiting until a moment."""

    def time_ms(self) -> int:
        raise NotImplementedError

    def wait_till(self, target_ms: int, stop: threading.Event) -> bool:
        """Block until the clock reads ``target_ms`` or ``stop`` is set; return False if stopped."""
        raise NotImplementedError


class SystemClock(Clock):
    """Wall-clock time in milliseconds since the epoch."""

    def time_ms(self) -> int:
        return int(time.time() * 1000)

    def wait_till(self, target_ms: int, stop: threading.Event) -> bool:
        while not stop.is_set():
            remaining = target_ms - self.time_ms()
            if remaining <= 0:
                return True
            stop.wait(min(remaining, 100) / 1000.0)
        return False


class ManualClock(Clock):
    """A clock that moves only when told, as Spark's ``ManualClock``.

    Parameters
    ----------
    start : int
        Starting time in milliseconds.

    Examples
    --------
    >>> clock = ManualClock()
    >>> clock.advance(1.5)
    >>> clock.time_ms()
    1500
    """

    def __init__(self, start: int = 0):
        self._time = int(start)
        self._cond = threading.Condition()

    def time_ms(self) -> int:
        with self._cond:
            return self._time

    def set_time_ms(self, ms: int) -> None:
        with self._cond:
            self._time = int(ms)
            self._cond.notify_all()

    def advance(self, seconds) -> None:
        """Move the clock forward by ``seconds`` (number or ``timedelta``)."""
        from .._util import to_ms

        with self._cond:
            self._time += to_ms(seconds, "ManualClock.advance")
            self._cond.notify_all()

    def wait_till(self, target_ms: int, stop: threading.Event) -> bool:
        with self._cond:
            while self._time < target_ms:
                if stop.is_set():
                    return False
                self._cond.wait(0.05)
            return not stop.is_set()
