"""The receiver supervisor: one long-lived Dask task per receiver (Spark's ``ReceiverSupervisor``).

The task does not secede: it holds its worker thread for its whole life, as a Spark receiver holds a
core. It starts the user's :class:`~dstreams.sources.receiver.api.Receiver`, cuts the records it stores into
blocks every block interval (:class:`BlockGenerator`), stores each block as Dask data on its own
worker (and a copy on another worker when the stream replicates), and sends the block's futures and
record count to the driver through a ``distributed.Queue``. It ends when the driver sets the stream's
stop ``distributed.Event``, or when the receiver asks to stop or restart, or raised; the driver's
tracker decides on restarts, always as a new task under a new key.

Messages on the queue (msgpack dicts, plus the block futures themselves)::

    {"kind": "started", "stream", "attempt", "worker"}
    Future(key), [Future(replica_key)], then
        {"kind": "block", "stream", "attempt", "key", "replica", "n", "where": [worker of each copy]}
    {"kind": "error", "stream", "attempt", "message", "error"}

With a write-ahead log (``spec.wal_dir``), each block is first appended to the log (fsynced), then
stored on this worker only, and its message carries ``"segment": [path, offset, length]``.

The task's result says why it ended: ``{"kind": "stopped" | "restart", "message", "error"}``.
"""
from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
import traceback
from dataclasses import dataclass

from ..._compat import scatter_from_task, worker_task_state
from ..._util import as_records
from ...errors import ReceiverError

logger = logging.getLogger("dstreams")

STOP_POLL_S = 0.2  # how often the task checks the driver's stop event
OTHER_WORKERS_TTL_S = 5.0  # how long the list of other workers is reused


@dataclass(frozen=True)
class ReceiverSpec:
    """What the supervisor of one receiver attempt needs to know (sent with the task)."""

    stream_id: int
    name: str
    attempt: int
    run_id: str
    queue_name: str
    stop_name: str
    block_interval_s: float = 0.2
    max_rate: float | None = None
    replicate: bool = True
    wal_dir: str | None = None  # write-ahead log of the stream's blocks (no replica then)
    rate_name: str | None = None  # a distributed.Variable with the rate backpressure allows (records/s)
    initial_rate: float | None = None  # with backpressure, the rate before the driver sets one
    wal_key: object = None  # a dstreams.signing.SigningKey that signs the logged blocks (with a checkpoint_key)

    @property
    def key_prefix(self) -> str:
        return f"rblock-{self.stream_id}-{self.run_id}-{self.attempt}"


def error_text(error) -> str | None:
    """``"ValueError: bad"`` for an exception (msgpack-able), None for None."""
    if error is None:
        return None
    if isinstance(error, BaseException):
        return "".join(traceback.format_exception_only(type(error), error)).strip()
    return str(error)


class RateLimiter:
    """At most ``rate`` permits per second, spaced evenly (Guava's ``RateLimiter`` without bursts).

    ``acquire(n)`` returns at once when the limiter is idle and makes the next caller wait ``n / rate``
    seconds; waits end early once ``cancel`` is set.
    """

    def __init__(self, rate: float, cancel: threading.Event | None = None):
        self.rate = float(rate)
        self._next_free = None
        self._lock = threading.Lock()
        self._cancel = cancel or threading.Event()

    def acquire(self, n: int = 1) -> float:
        """Take ``n`` permits, waiting as needed; returns the seconds waited."""
        with self._lock:
            now = time.monotonic()
            if self._next_free is None or self._next_free < now:
                self._next_free = now
            wait = self._next_free - now
            self._next_free += n / self.rate
        if wait > 0:
            self._cancel.wait(wait)
        return wait


class BlockGenerator:
    """Buffers single records and cuts them into a block every ``interval_s`` (Spark's ``BlockGenerator``).

    A timer thread cuts the blocks, a pushing thread hands them to ``push(records)``. At most
    ``max_pending`` cut blocks wait for pushing; beyond that ``add`` blocks (backpressure).
    """

    def __init__(self, interval_s: float, push, on_error, name: str, max_pending: int = 10):
        self.interval_s, self.push, self.on_error, self.name = interval_s, push, on_error, name
        self._buffer: list = []
        self._lock = threading.Lock()
        self._pending: queue.Queue = queue.Queue(maxsize=max_pending)
        self._adding = True
        self._stop_timer = threading.Event()
        self._timer = threading.Thread(target=self._tick_loop, name=f"{name}-block-timer", daemon=True)
        self._pusher = threading.Thread(target=self._push_loop, name=f"{name}-block-pusher", daemon=True)

    def start(self) -> None:
        self._timer.start()
        self._pusher.start()

    def check_accepting(self) -> None:
        if not self._adding:
            raise ReceiverError(
                f"receiver {self.name} is stopped: store() was called after on_stop() returned, so the "
                "records cannot be stored; make the receiver's threads end in on_stop()"
            )

    def add(self, record) -> None:
        with self._lock:
            self.check_accepting()
            self._buffer.append(record)

    def _cut(self) -> None:
        with self._lock:  # holding the lock while the pending queue is full makes add() wait
            if self._buffer:
                block, self._buffer = self._buffer, []
                self._pending.put(block)

    def _tick_loop(self) -> None:
        next_t = time.monotonic() + self.interval_s
        while not self._stop_timer.wait(max(0.0, next_t - time.monotonic())):
            self._cut()
            next_t = max(next_t + self.interval_s, time.monotonic())

    def _push_loop(self) -> None:
        while True:
            block = self._pending.get()
            if block is None:
                return
            try:
                self.push(block)
            except BaseException as exc:  # noqa: B036 - reported, the receiver is restarted
                self.on_error(f"storing a block of {len(block)} records failed", exc)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop accepting records, cut the last block and wait until every block was pushed."""
        with self._lock:
            self._adding = False
        self._stop_timer.set()
        if self._timer.is_alive():
            self._timer.join(timeout)
        self._cut()
        self._pending.put(None)
        if self._pusher.is_alive():
            self._pusher.join(timeout)


def run_receiver(receiver, spec: ReceiverSpec) -> dict:
    """The Dask task of one receiver attempt: runs until stopped, returns why it ended."""
    return ReceiverSupervisor(receiver, spec).run()


class ReceiverSupervisor:
    """Runs one attempt of a receiver on a worker: blocks, rate limit, stop and restart requests."""

    def __init__(self, receiver, spec: ReceiverSpec):
        self.receiver, self.spec = receiver, spec
        self.stopping = False
        self.receiver_started = False
        self.blocks_pushed = 0
        self.records_pushed = 0
        self._end: tuple | None = None  # (kind, message, error text), the first request wins
        self._done = threading.Event()
        self._count_lock = threading.Lock()
        self._seq = itertools.count()
        start_rate = min((r for r in (spec.max_rate, spec.initial_rate) if r), default=None)
        self._limiter = RateLimiter(start_rate, self._done) if start_rate else None
        self._targets: tuple[float, list] = (0.0, [])
        self.client = self.queue = self.address = self.generator = self.worker = None
        self.wal = None
        if spec.wal_dir is not None:
            from .wal import WriteAheadLog

            self.wal = WriteAheadLog(spec.wal_dir, writer=f"{spec.run_id}-{spec.attempt}")
        self.nthreads = 1

    # -- the task --------------------------------------------------------------------------
    def run(self) -> dict:
        from distributed import get_worker

        worker = self.worker = get_worker()
        self.address = worker.address
        task_key = worker.get_current_task()
        self.nthreads = worker.state.nthreads
        _count_receiver(self.address, 1)
        try:
            return self._run(worker, task_key)
        finally:
            _count_receiver(self.address, -1)

    def _run(self, worker, task_key) -> dict:
        from distributed import Event, Queue, Variable, get_client

        spec = self.spec
        self.client = get_client()
        self.queue = Queue(spec.queue_name, client=self.client)
        stop_event = Event(spec.stop_name, client=self.client)
        self.generator = BlockGenerator(spec.block_interval_s, self._push, self.request_restart, spec.name)
        self._send({"kind": "started", "worker": self.address})
        self.generator.start()
        self.receiver._supervisor = self
        try:
            self.receiver.on_start()
            self.receiver_started = True
        except Exception as exc:
            logger.exception("receiver %s: on_start() failed", spec.name)
            self._finish("restart", f"on_start() raised {type(exc).__name__}: {exc}", exc)
        rate = Variable(spec.rate_name, client=self.client) if spec.rate_name else None
        try:
            while not self._done.is_set():
                if rate is not None:
                    self._apply_rate(rate)
                if stop_event.wait(timeout=STOP_POLL_S):
                    self._finish("stopped", "stopped by the driver", None)
                elif _cancelled(worker, task_key):  # Dask cancelled the task but cannot end its thread
                    self._finish("stopped", "its task was cancelled", None)
        except Exception as exc:  # the scheduler is unreachable: end, so that the tracker restarts it
            self._finish("restart", f"waiting for the driver's stop signal failed: {exc}", exc)
        return self._shutdown()

    def _apply_rate(self, variable) -> None:
        """Take the rate backpressure set on the driver (never above ``max_rate``)."""
        try:
            rate = variable.get(timeout=0)
        except Exception:  # not set yet (or the scheduler is busy): keep the current rate
            return
        if self.spec.max_rate:
            rate = min(rate, self.spec.max_rate)
        if self._limiter is None:
            self._limiter = RateLimiter(rate, self._done)
        else:
            self._limiter.rate = float(rate)

    def _shutdown(self) -> dict:
        self.stopping = True
        try:
            self.receiver.on_stop()
        except Exception as exc:
            logger.exception("receiver %s: on_stop() failed", self.spec.name)
            self.report_error(f"on_stop() raised {type(exc).__name__}: {exc}", exc)
        try:
            self.generator.stop()  # the records stored until now become a last block
        finally:
            self.receiver._supervisor = None
            self.queue.close()
        kind, message, error = self._end
        return {"kind": kind, "message": message, "error": error, "blocks": self.blocks_pushed,
                "records": self.records_pushed, "worker": self.address}

    def _finish(self, kind, message, error) -> None:
        if self._end is None:
            self._end = (kind, message, error_text(error))
        self.stopping = True
        self._done.set()

    # -- called by the receiver ------------------------------------------------------------
    def store_record(self, record) -> None:
        if self._limiter is not None:
            self._limiter.acquire(1)
        self.generator.add(record)

    def store_block(self, records: list) -> None:
        if not records:
            return
        self.generator.check_accepting()
        if self._limiter is not None:
            self._limiter.acquire(len(records))
        self._push(records)

    def request_restart(self, message, error=None) -> None:
        self._finish("restart", message, error)  # the task's result tells the driver, error included

    def request_stop(self, message, error=None) -> None:
        self._finish("stopped", message, error)

    def report_error(self, message, error=None) -> None:
        try:
            self._send({"kind": "error", "message": str(message), "error": error_text(error)})
        except Exception:
            logger.exception("receiver %s: could not report an error to the driver: %s", self.spec.name, message)

    # -- blocks ----------------------------------------------------------------------------
    def _send(self, msg: dict) -> None:
        self.queue.put(dict(msg, stream=self.spec.stream_id, attempt=self.spec.attempt))

    def _push(self, records: list) -> None:
        """Store ``records`` as one block (and a replica), then give its futures and size to the driver."""
        records = as_records(records)
        key = f"{self.spec.key_prefix}-{next(self._seq)}"
        segment = None
        if self.wal is not None:  # durable before the block is stored, counted or acknowledged
            import cloudpickle

            from ...signing import seal

            segment = list(self.wal.write(seal(cloudpickle.dumps(records), self.spec.wal_key)))
        stored = self._store(key, records)  # [(future, worker address)], the primary first
        for future, _ in stored:
            self.queue.put(future)
        replica = stored[1][0].key if len(stored) > 1 else None
        self._send({"kind": "block", "key": key, "replica": replica, "n": len(records),
                    "where": [addr for _, addr in stored], "segment": segment})
        with self._count_lock:
            self.blocks_pushed += 1
            self.records_pushed += len(records)

    def _store(self, key, records):
        """Scatter the block: on this worker and a copy on another one, when the stream replicates.

        A batch's first tasks run where its blocks are, and on a worker whose every thread runs a
        receiver they cannot run, so such a worker keeps no block: the copies go to other workers.
        Replicas are separate keys, not ``client.replicate``: the Active Memory Manager drops extra
        replicas of one key within seconds. Returns ``[(future, address)]``, the primary first.
        """
        saturated = _receivers_on(self.address) >= self.nthreads
        others = self._others(refresh=saturated and not self._targets[1])
        copies = 2 if self.spec.replicate and self.wal is None else 1  # the log replaces the replica
        stored = []
        if not saturated:
            stored.append((_scatter_here(self.client, key, records, self.worker), self.address))
        for target in others:
            if len(stored) == copies:
                break
            name = key if not stored else f"{key}-r"
            try:
                stored.append((_scatter_to(self.client, name, records, target), target))
            except Exception as exc:
                logger.warning("receiver %s: storing block %s on %s failed: %s", self.spec.name, name, target, exc)
                self._targets = (0.0, [])  # refresh next time
        if len(stored) < copies and not self._targets[1]:  # a worker died: try the live ones once more
            for target in self._others(refresh=True):
                if len(stored) == copies:
                    break
                if any(target == where for _, where in stored):
                    continue
                try:
                    stored.append((_scatter_to(self.client, key if not stored else f"{key}-r", records, target),
                                   target))
                except Exception:
                    pass
        if not stored:  # no other worker to use: here, whatever it costs
            stored.append((_scatter_here(self.client, key, records, self.worker), self.address))
        return stored

    def _others(self, refresh=False) -> list:
        """The other live workers, starting at a different one for each stream (spreads the copies)."""
        stamp, others = self._targets
        if refresh or time.monotonic() - stamp > OTHER_WORKERS_TTL_S:
            others = sorted(a for a in self.client.nthreads() if a != self.address)
            if others:
                k = self.spec.stream_id % len(others)
                others = others[k:] + others[:k]
            self._targets = (time.monotonic(), others)
        return others


# receivers running per worker address (several in-process workers can share this module)
_running: dict[str, int] = {}
_running_lock = threading.Lock()


def _receivers_on(address) -> int:
    with _running_lock:
        return _running.get(address, 0)


def _count_receiver(address, delta) -> None:
    with _running_lock:
        _running[address] = _running.get(address, 0) + delta


def _cancelled(worker, key) -> bool:
    return worker_task_state(worker, key) in (None, "cancelled", "released", "forgotten")


def _scatter_here(client, key, data, worker):
    """Scatter ``{key: data}`` into ``worker``, the one this receiver runs on, from any of its threads.

    ``Client.scatter`` in a task stores on the worker of the calling thread: in threads the receiver
    starts, with several workers in one process, that can be another worker.
    """
    return scatter_from_task(client, key, data, local_worker=worker)


def _scatter_to(client, key, data, worker):
    """Scatter ``{key: data}`` to ``worker`` from inside a task.

    ``Client.scatter`` called in a task always stores on the local worker, whatever ``workers`` says,
    so this goes one level down, to the direct-to-worker scatter that a client outside the cluster uses.
    """
    return scatter_from_task(client, key, data, workers=[worker], direct=True, local_worker=None)
