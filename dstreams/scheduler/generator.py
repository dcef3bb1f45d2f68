"""JobGenerator: one event loop over a closed set of events, driven by a timer on an injected clock."""
from __future__ import annotations

import functools
import logging
import queue
import threading
from dataclasses import dataclass, field

import dask

from ..listener import BatchInfo
from ..notebook import RoutedThread
from .jobs import JobSet
from .timer import RecurringTimer

logger = logging.getLogger("dstreams")



@dataclass(frozen=True)
class GenerateJobs:
    """Generate the jobs of batch ``time_ms`` (the timer's tick, or a batch rerun after recovery)."""

    time_ms: int


@dataclass(frozen=True)
class ClearMetadata:
    """Batch ``time_ms`` finished: forget what it needed, then checkpoint."""

    time_ms: int


@dataclass(frozen=True)
class Flush:
    """Set ``done`` once every event queued before this one is handled."""

    done: threading.Event = field(compare=False)


@dataclass(frozen=True)
class Stop:
    """End the event loop."""


Event = GenerateJobs | ClearMetadata | Flush | Stop


class JobGenerator:
    """Turns clock ticks into job sets: GenerateJobs(t) and ClearMetadata(t) events, one loop."""

    def __init__(self, graph, clock, batch_ms, job_scheduler, input_info, checkpointer=None, annotations=None):
        self.graph, self.clock, self.batch_ms = graph, clock, batch_ms
        self.jobs, self.input_info = job_scheduler, input_info
        self.checkpointer = checkpointer  # called as checkpointer(last_generated, pending_times)
        self.annotations = annotations or {}  # Dask annotations of what the loop computes (the run's span)
        self.pending: set[int] = set()
        self._events: queue.Queue = queue.Queue()
        self.timer = RecurringTimer(clock, batch_ms, lambda t: self._events.put(GenerateJobs(t)),
                                    "dstreams-timer")
        self._thread = RoutedThread(self._loop, "dstreams-job-generator")
        self.last_generated: int | None = None

    def start(self) -> int:
        """Start ticking; returns the zero time (one interval before the first batch)."""
        start = self.timer.start_time_after(self.clock.time_ms())
        zero = start - self.batch_ms
        self.graph.start(zero)
        self._thread.start()
        self.timer.start(start)
        return zero

    def restart(self, last_generated: int, pending_times) -> list[int]:
        """Start after recovery: rerun the pending batches and those whose time passed while down.

        Returns the batch times rescheduled, in order.
        """
        zero = self.graph.zero_time
        now = self.clock.time_ms()
        restart_at = zero + ((now - zero) // self.batch_ms + 1) * self.batch_ms
        down = range(last_generated + self.batch_ms, restart_at, self.batch_ms)
        times = sorted({t for t in list(pending_times) + list(down) if t < restart_at})
        self.last_generated = last_generated
        # the batches to rerun stay pending from now on: a checkpoint written before they are all generated
        # again (a rerun that finishes first) must list them, or a driver killed then would lose them
        self.pending = {t for t in pending_times if t <= last_generated}
        self._thread.start()
        for t in times:
            self._events.put(GenerateJobs(t))
        self.timer.start(restart_at)
        return times

    def clear(self, time_ms: int) -> None:
        self._events.put(ClearMetadata(time_ms))

    def _loop(self) -> None:
        with dask.annotate(**self.annotations):
            self._handle_events()

    def _handle_events(self) -> None:
        while True:
            event: Event = self._events.get()
            if isinstance(event, Stop):
                return
            if isinstance(event, Flush):
                event.done.set()
                continue
            try:
                if isinstance(event, GenerateJobs):
                    self._generate(event.time_ms)
                elif isinstance(event, ClearMetadata):
                    self.pending.discard(event.time_ms)
                    self.graph.clear_metadata(event.time_ms)
                    self.input_info.cleanup(event.time_ms)
                    self._checkpoint()
                else:
                    raise TypeError(f"not a job generator event: {event!r}; put one of {Event}")
            except Exception:  # defensive: a bug here must not kill the loop silently
                logger.exception("dstreams job generator failed on %s", event)

    def _generate(self, t: int) -> None:
        try:
            jobs = self.graph.generate_jobs(t)
        except Exception as exc:
            self.jobs.report_generation_error(t, exc, self.graph.explain_failure(exc))
            return
        self.last_generated = max(t, self.last_generated or t)
        self.pending.add(t)
        infos = self.input_info.get(t)
        info = BatchInfo(t, self.clock.time_ms(), sum(i.num_records for i in infos.values()), infos)
        self._checkpoint()
        self.jobs.submit(JobSet(t, jobs, info, functools.partial(self.graph.batch_jobs_done, t)))

    def _checkpoint(self) -> None:
        if self.checkpointer is not None and self.last_generated is not None:
            try:
                self.checkpointer(self.last_generated, sorted(self.pending))
            except Exception:
                logger.exception("dstreams: writing a checkpoint failed; the stream goes on without it")

    def stop_generating(self, graceful: bool, final_batch: bool = False) -> None:
        """Stop the timer; with ``graceful`` wait until the batches already due are generated,
        otherwise drop them. ``final_batch`` (with ``graceful``) generates one more batch, at the next
        batch time, for the data received since the last one (the receivers' last blocks)."""
        last = self.timer.stop()
        if graceful and final_batch and last is not None:
            self._events.put(GenerateJobs(last + self.batch_ms))
        if not graceful:
            self._drain()
        elif threading.current_thread() is not self._thread and self._thread.is_alive():
            done = threading.Event()
            self._events.put(Flush(done))
            done.wait(60)

    def stop(self, graceful: bool) -> None:
        """Stop the loop after the events already queued (the metadata clean-up and last checkpoint of
        batches that finished); call :meth:`stop_generating` first."""
        self.timer.stop()
        if not graceful:
            self._drain()
        self._events.put(Stop())
        if threading.current_thread() is not self._thread and self._thread.is_alive():
            self._thread.join(30)

    def _drain(self) -> None:
        """Drop the batches not generated yet; keep the clean-up (and checkpoint) of finished ones, so the
        last checkpoint does not list a finished batch as pending (it would run again after recovery)."""
        kept = []
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            if not isinstance(event, GenerateJobs):
                kept.append(event)
        for event in kept:
            self._events.put(event)
