"""ReceiverTracker: the driver side of receivers (Spark's ``ReceiverTracker``).

It launches one long-lived Dask task per receiver stream when the context starts, drains the queue on
which the tasks send their blocks, allocates the blocks received until ``t`` to the batch of ``t``,
holds the blocks' futures until that batch is cleaned up, restarts receivers that failed (as new tasks
under new keys, after a delay, on another worker when theirs died) and tells the listeners.
It knows nothing of job generation: the input streams ask it for their blocks. Launching, watching and
restarting the receivers' tasks is in :mod:`.attempts` (a base class of the tracker).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time

from ..._util import as_records
from ...listener import ReceiverInfo
from ...notebook import RoutedThread
from .attempts import ReceiverAttempts, _Attempt, _ReceiverState  # noqa: F401  (_Attempt is named here too)
from .blocks import WAIT, ReceivedBlock, ReceivedBlockTracker
from .scheduling import check_capacity

logger = logging.getLogger("dstreams")

POLL_S = 0.05  # how long the tracker waits when the block queue is empty
WORKER_CHECK_S = 0.5  # how often the live workers are compared with where the receivers run


def start_receivers(ssc):
    """The started tracker of ``ssc``'s receiver streams, or None when its graph has none."""
    streams = [s for s in ssc.runtime.graph.inputs if getattr(s, "is_receiver", False)]
    if not streams:
        return None
    tracker = ReceiverTracker(ssc, streams)
    try:
        tracker.start()
    except BaseException:
        tracker.close()  # stop whatever was launched before the failure
        raise
    return tracker


def _same(block):
    return block


def read_logged_block(segment, key=None) -> list:
    """The records of the block logged at ``segment`` (runs on a worker); with ``key`` (a
    :class:`~dstreams.signing.SigningKey`) its signature is checked before it is unpickled."""
    import cloudpickle

    from ...signing import unseal
    from .wal import read

    data = unseal(read(segment), key, f"write-ahead log record {segment[0]}:{segment[1]}")
    return as_records(cloudpickle.loads(data))


class ReceiverTracker(ReceiverAttempts):
    """Runs the receivers of one StreamingContext and keeps their blocks until batches are done with them."""

    def __init__(self, ssc, streams):
        self.ssc, self.client, self.clock = ssc, ssc.client, ssc.clock
        self.states = {s.id: _ReceiverState(s) for s in streams}
        self.queue_name = f"dstreams-receiver-blocks-{ssc.run_id}"
        self._queue = None
        self._lock = threading.RLock()
        self.blocks = ReceivedBlockTracker(self.states)
        self._stopping = False
        self._closing = threading.Event()
        self._closed = False
        self._live_workers: tuple[float, set] | None = None  # (when seen, addresses)
        self._nthreads: dict[str, int] = {}
        self._thread = RoutedThread(self._loop, "dstreams-receiver-tracker")

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Check the cluster can take the receivers, then launch them; returns without waiting for them."""
        from distributed import Queue

        check_capacity(sum(self.client.nthreads().values()), len(self.states))
        self._queue = Queue(self.queue_name, client=self.client)
        with self._lock:
            for state in self.states.values():
                self._launch(state)
        self._thread.start()

    def stop_receivers(self, graceful: bool = True, timeout: float | None = None) -> None:
        """Stop every receiver and wait until they ended; then every block they stored has been received.

        The blocks stay with the tracker for the batches still to come; :meth:`close` releases them.
        A receiver still running after ``timeout`` seconds (default 30 when graceful, else 10) is cancelled.
        """
        if timeout is None:
            timeout = 30.0 if graceful else 10.0
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            for state in self.states.values():
                state.restart_due = None
        for state in self.states.values():
            if state.attempt is not None:
                state.attempt.signal_stop()
        deadline = time.monotonic() + timeout
        for state in self.states.values():
            a = state.attempt
            if a is not None and not a.ended:
                try:  # not distributed.wait: it needs a default client
                    a.future.result(timeout=max(0.0, deadline - time.monotonic()))
                except Exception:
                    pass
        for state in self.states.values():
            a = state.attempt
            if a is not None and not a.ended and not a.future.done():
                logger.warning(
                    "receiver %s did not stop within %s s (its on_stop() may block); its task was cancelled, "
                    "but its worker thread may stay busy", state.info.name, timeout)
                a.future.cancel()
        self._closing.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._drain()
        self._check_attempts()

    def close(self) -> None:
        """Release every block and the queue and events (after the last batch ran); idempotent."""
        if not self._stopping:
            self.stop_receivers(graceful=False)
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.blocks.close()
        for state in self.states.values():
            for a in state.past + ([state.attempt] if state.attempt is not None else []):
                if a.future.done() or a.ended:
                    try:
                        a.stop_event.clear()  # a cleared event with no waiter leaves the scheduler
                    except Exception:
                        pass
        if self._queue is not None:
            try:
                self._queue.close()
            except Exception:
                pass

    # -- blocks for batches ----------------------------------------------------------------
    def allocate(self, stream_id: int, time_ms: int) -> tuple[list, list]:
        """The blocks of ``stream_id`` for the batch of ``time_ms``: those received until then and not
        given to an earlier batch (received in ``(t - interval, t]`` when batches are on time).

        Returns ``([(block, future to read it from)], [lost blocks])``. The blocks are held until
        :meth:`cleanup` of that batch. A block that cannot be read now (see :meth:`_readable`) waits for
        the next batch.
        """
        found, lost, waiting = self.blocks.allocate(stream_id, time_ms, self._readable)
        if waiting:
            logger.warning("receiver stream %s: %d block(s) wait for a later batch: every copy is on a worker whose "
                           "threads all run receivers, and no other worker is there to copy them to", stream_id,
                           len(waiting))
        if lost:
            self.report_lost(stream_id, time_ms, lost)
        return found, lost

    def cleanup(self, stream_id: int, before_ms: int) -> None:
        """Release the blocks of the batches of ``stream_id`` at or before ``before_ms``."""
        self.blocks.cleanup(stream_id, before_ms)

    def has_unallocated_blocks(self) -> bool:
        return self.blocks.has_unallocated()

    def report_lost(self, stream_id: int, time_ms: int, lost: list[ReceivedBlock]) -> None:
        """Tell the listeners that blocks of a batch were lost with their worker."""
        n = sum(b.num_records for b in lost)
        state = self.states[stream_id]
        message = (f"{len(lost)} block(s) with {n} records of batch {time_ms} ms were lost: the worker that "
                   "held them died and they had no replica (receiver_stream(..., replicate=True) keeps one)")
        logger.warning("receiver %s: %s", state.info.name, message)
        self._post([("on_receiver_error", self._error(state, message, "BlockLost"))])

    def _readable(self, block: ReceivedBlock):
        """The future a batch should read ``block`` from, None when the block was lost, or _WAIT.

        A batch's first task runs where its input is, and on a worker whose every thread runs a
        receiver it would never run; when every copy of the block sits on such a worker (receivers
        moved there after the block was stored), the block is first copied, by a task, to another
        one, and when there is no other worker, it waits.
        """
        copies = block.live_copies()
        if not copies and block.segment is not None:  # lost with its worker, or from before a recovery
            return self._read_logged(block)
        if not copies:
            return None
        with self._lock:
            nthreads = dict(self._nthreads)
            load: dict[str, int] = {}
            for s in self.states.values():
                if s.attempt is not None and not s.attempt.ended:
                    load[s.attempt.worker] = load.get(s.attempt.worker, 0) + 1
        busy = {w for w, n in load.items() if n >= nthreads.get(w, 1)}
        for future, where in copies:
            if where not in busy:
                return future
        if block.copy is not None and block.copy.status in ("pending", "finished"):
            return block.copy
        targets = sorted(w for w in self.client.nthreads() if w not in busy)  # fresh: workers come and go
        if not targets:
            return WAIT
        block.copy = self.client.submit(_same, copies[0][0], key=f"{block.key}-c", workers=targets,
                                        allow_other_workers=False, pure=False)
        return block.copy

    def _read_logged(self, block: ReceivedBlock):
        """A task on a worker that reads ``block`` back from its write-ahead log segment."""
        if block.copy is not None and block.copy.status in ("pending", "finished"):
            return block.copy
        path, offset, _ = block.segment
        key = f"rblock-wal-{block.stream_id}-{self.ssc.run_id}-{abs(hash((path, offset))):x}-{offset}"
        from ...signing import data_key

        block.copy = self.client.submit(read_logged_block, tuple(block.segment), data_key(self.ssc.checkpoint_key),
                                        key=key, pure=False)
        return block.copy

    # -- monitoring ------------------------------------------------------------------------
    def receiver_info(self, stream_id: int) -> ReceiverInfo:
        """A snapshot of the receiver of ``stream_id``."""
        with self._lock:
            return dataclasses.replace(self.states[stream_id].info)

    def num_records_received(self, stream_id: int) -> int:
        """Records of ``stream_id`` that reached the driver so far (allocated to batches or not)."""
        return self.blocks.num_records(stream_id)

    # -- the tracker thread ----------------------------------------------------------------
    def _loop(self) -> None:
        import dask

        with dask.annotate(**self.ssc.runtime.annotations):  # block copies go under the run's span
            self._track()

    def _track(self) -> None:
        last_check = 0.0
        while not self._closing.is_set():
            try:
                self._receive(POLL_S)
                if time.monotonic() - last_check > WORKER_CHECK_S:
                    last_check = time.monotonic()
                    self._nthreads = dict(self.client.nthreads())
                    self._live_workers = (last_check, set(self._nthreads))
                self._check_attempts()
            except Exception:
                if self._closing.is_set() or self.client.status != "running":
                    return
                logger.exception("dstreams receiver tracker: unexpected error; going on")
                self._closing.wait(POLL_S)

    def _receive(self, timeout) -> None:
        # a non-blocking get and a wait here: a get that times out on the scheduler logs an error there
        items = self._queue.get(batch=True)
        if items:
            self._handle(items)
        else:
            self._closing.wait(timeout)

    def _drain(self) -> None:
        if self._queue is None:
            return
        try:
            while True:
                items = self._queue.get(batch=True)
                if not items:
                    return
                self._handle(items)
        except Exception:
            logger.exception("dstreams receiver tracker: could not drain the block queue")

    def _handle(self, items) -> None:
        events = []
        with self._lock:
            for item in items:
                if not isinstance(item, dict):  # a block's future; its metadata follows
                    self.blocks.add_future(item)
                    continue
                state = self.states.get(item.get("stream"))
                if state is None:
                    continue
                kind = item.get("kind")
                if kind == "block":
                    self.blocks.add_block(state.stream.id, item, self.clock.time_ms())
                    state.failures_in_row = 0  # it delivers: count failures afresh
                elif kind == "started":
                    if state.attempt is not None and state.attempt.number == item["attempt"]:
                        state.info.active = True
                        state.info.worker = item["worker"]
                        events.append(("on_receiver_started", dataclasses.replace(state.info)))
                elif kind == "error":
                    events.append(("on_receiver_error", self._error(state, item["message"], item.get("error"))))
        self._post(events)

    def _post(self, events) -> None:
        for name, info in events:
            self.ssc.runtime.bus.post(name, info)
