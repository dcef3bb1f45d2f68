"""The driver's side of the Streaming page: a listener that sends the run's events to the scheduler.

Events become small JSON-able messages (see :mod:`dstreams.dashboard.model`), queued by the listener
(so a batch never waits for the scheduler) and sent by one thread through ``Client.run_on_scheduler``,
all that queued up in one call, at most every :data:`SEND_EVERY_S`.
"""
from __future__ import annotations

import logging
import queue
import threading
import time

from ..listener import StreamingListener
from ..notebook import RoutedThread

logger = logging.getLogger("dstreams")

SEND_EVERY_S = 0.25
_STOP = object()


class DashboardReporter(StreamingListener):
    """Queues one message per event; a daemon thread sends them to the scheduler's plugin."""

    def __init__(self, ssc):
        self.ssc = ssc
        self.client = ssc.client
        self.run = ssc.run_id
        self.names = {s.id: s.name for s in ssc.runtime.graph.inputs}
        self._queue: queue.Queue = queue.Queue()
        #: what it cost so far: seconds in the listener's callbacks (on the context's threads), CPU seconds
        #: of the sending thread, and calls to the scheduler
        self.listener_seconds = self.sender_cpu_seconds = 0.0
        self.sends = 0
        self._error = None
        self._wake = threading.Event()
        self._thread = RoutedThread(self._send_loop, f"dstreams-dashboard-{self.run}")
        self._thread.start()
        graph = ssc.runtime.graph
        self._put("started", batch_ms=ssc.batch_ms, started_ms=int(time.time() * 1000),
                  sources=[{"id": s.id, "name": s.name, "kind": s.op} for s in graph.inputs],
                  outputs=[{"id": i, "description": o.description} for i, o in enumerate(graph.outputs)])

    # -- events -> messages ------------------------------------------------------------------
    def _put(self, kind: str, **fields) -> None:
        self._queue.put({"type": kind, "run": self.run, **fields})

    def _timed(method):  # noqa: N805 - a decorator of this class's callbacks
        def timed(self, *args):
            began = time.perf_counter()
            try:
                return method(self, *args)
            finally:
                self.listener_seconds += time.perf_counter() - began
        timed.__name__ = method.__name__
        return timed

    @_timed
    def on_batch_submitted(self, info):
        self._put("batch", batch=self._batch(info, "queued"))

    @_timed
    def on_batch_started(self, info):
        self._put("batch", batch=self._batch(info, "processing"))

    @_timed
    def on_batch_completed(self, info):
        self._put("batch", batch=self._batch(info, "failed" if info.failure_reason else "completed", done=True))

    @_timed
    def on_receiver_started(self, info):
        self._receiver(info)

    @_timed
    def on_receiver_error(self, info):
        self._receiver(info)

    @_timed
    def on_receiver_stopped(self, info):
        self._receiver(info)

    def on_streaming_error(self, error):
        self._error = f"{type(error).__name__}: {error}"

    def on_streaming_stopped(self):
        self._put("stopped", stopped_ms=int(time.time() * 1000), error=self._error)
        self.close()

    def _receiver(self, info):
        self._put("receiver", receiver={
            "name": info.name, "stream_id": info.stream_id, "active": info.active, "worker": info.worker,
            "attempt": info.attempt, "restarts": info.restarts, "last_error": info.last_error,
            "last_error_time_ms": info.last_error_time_ms})

    def _batch(self, info, status: str, done: bool = False) -> dict:
        inputs = {}
        for stream_id, inp in info.input_info.items():
            entry = {"records": inp.num_records}
            ranges = inp.metadata.get("offsets")
            if ranges is not None:
                latest = inp.metadata.get("latest_offsets") or {}
                committed = inp.metadata.get("committed_offsets") or {}
                entry["partitions"] = [
                    [r.topic, r.partition, r.from_offset, r.until_offset, latest.get(f"{r.topic}:{r.partition}"),
                     committed.get(f"{r.topic}:{r.partition}")]
                    for r in ranges]
            inputs[self.names.get(stream_id, str(stream_id))] = entry
        batch = {"time_ms": info.batch_time_ms, "status": status, "submitted_ms": info.submission_time_ms,
                 "started_ms": info.processing_start_time_ms, "ended_ms": info.processing_end_time_ms,
                 "records": info.num_records, "inputs": inputs}
        if done or info.output_operations:
            batch["outputs"] = [
                {"id": op.id, "description": op.description, "start_ms": op.start_time_ms,
                 "end_ms": op.end_time_ms, "failure": op.failure_reason}
                for _, op in sorted(info.output_operations.items())]
        if done:
            batch["checkpoint"] = self.ssc.runtime.last_checkpoint
        return batch

    # -- sending -----------------------------------------------------------------------------
    def _send_loop(self) -> None:
        from .plugin import receive

        while True:
            first = self._queue.get()
            messages, stop = [], first is _STOP
            if not stop:
                messages.append(first)
            while True:
                try:
                    msg = self._queue.get_nowait()
                except queue.Empty:
                    break
                if msg is _STOP:
                    stop = True
                else:
                    messages.append(msg)
            if messages:
                began = time.thread_time()
                try:
                    self.client.run_on_scheduler(receive, messages)
                    self.sends += 1
                    self.sender_cpu_seconds += time.thread_time() - began
                except Exception as e:
                    if not stop:
                        logger.warning("dstreams: the Streaming page stops updating: sending to the scheduler "
                                       "failed (%s: %s)", type(e).__name__, e)
                    return
            if stop:
                return
            self._wake.wait(SEND_EVERY_S)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued, then stop the thread (waits up to ``timeout`` seconds)."""
        self._queue.put(_STOP)
        self._wake.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
