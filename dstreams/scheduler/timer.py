"""RecurringTimer: calls back at every multiple of a period on an injected clock."""
from __future__ import annotations

import threading

from ..notebook import RoutedThread


class RecurringTimer:
    """Calls ``callback(time_ms)`` at ``start, start + period, ...`` as the clock reaches each time."""

    def __init__(self, clock, period_ms: int, callback, name: str):
        self.clock, self.period_ms, self.callback, self.name = clock, period_ms, callback, name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.next_time: int | None = None

    def start_time_after(self, now_ms: int) -> int:
        """The first multiple of the period strictly after ``now_ms`` (Spark's ``getStartTime``)."""
        return (now_ms // self.period_ms + 1) * self.period_ms

    def start(self, start_ms: int) -> None:
        self.next_time = start_ms
        self._thread = RoutedThread(self._loop, self.name)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.clock.wait_till(self.next_time, self._stop):
                return
            self.callback(self.next_time)
            self.next_time += self.period_ms

    def stop(self) -> int | None:
        """Stop ticking; returns the last time called back."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        return None if self.next_time is None else self.next_time - self.period_ms
