"""The life cycle of a StreamingContext: its states, start, stop and await_termination.

:class:`Lifecycle` is the part of :class:`dstreams.StreamingContext` that runs the stream: ``start()``
wires the job scheduler, the job generator, the receiver tracker and the checkpoint writer (resuming
from a recovered state when there is one), ``stop()`` takes them down in order, a failure stops the
context from another thread, and ``await_termination()`` gives that failure to the caller. One context
may be active per Dask scheduler, as Spark allows one per JVM. The context itself (``context.py``)
holds the fields these methods use.
"""
from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
import weakref

from . import dashboard, notebook
from ._util import to_seconds
from .dstream.usercode import check_picklable
from .notebook import RoutedThread
from .scheduler.generator import JobGenerator
from .scheduler.jobs import JobScheduler
from .scheduler.spans import batch_annotations

logger = logging.getLogger("dstreams")


class StreamingContextState(enum.Enum):
    INITIALIZED = "initialized"
    ACTIVE = "active"
    STOPPED = "stopped"


# one active context per Dask scheduler, as Spark allows one per JVM
_active: dict[str, weakref.ref] = {}
_active_lock = threading.Lock()
#: how long stop() waits for a stop that another thread (a failed batch's) is doing
STOP_WAIT_S = 120.0


class Lifecycle:
    """Start, stop and await a :class:`~dstreams.StreamingContext` (a base class of it, not used alone)."""

    def _require_state(self, state, what):
        if self._state is not state:
            hint = {
                StreamingContextState.ACTIVE: "it is already running",
                StreamingContextState.STOPPED: "it was stopped; a stopped context cannot be restarted, "
                "create a new StreamingContext",
            }.get(self._state, "")
            raise RuntimeError(f"cannot call {what} on a StreamingContext in state {self._state.value}: {hint}")

    def start(self) -> None:
        """Start generating and running batches; returns at once (it never blocks a notebook).

        In Jupyter, what the context's threads print (``pprint``, ``foreach_rdd`` functions, failures)
        appears under the cell that called ``start()`` (see :mod:`dstreams.notebook`).
        """
        with self._state_lock, notebook.threads_routed_to(notebook.capture()):
            if self._state is StreamingContextState.ACTIVE:
                logger.warning("StreamingContext.start() called on an active context; ignored")
                return
            self._require_state(StreamingContextState.INITIALIZED, "start()")
            self.runtime.graph.validate()
            check_picklable(self.runtime.graph)
            key = self._active_key = self.client.scheduler.address
            with _active_lock:
                other = _active.get(key)
                if other is not None and other() is not None and other()._state is StreamingContextState.ACTIVE:
                    raise RuntimeError(
                        f"another StreamingContext is already active on the Dask scheduler {key}; stop it "
                        "(ssc.stop(stop_client=False)) before starting a new one, or use another cluster"
                    )
                _active.pop(key, None)  # the newest started last: get_active() returns it
                _active[key] = weakref.ref(self)
            if self.checkpoint_dir is not None:
                self._check_checkpointable()
            annotations = batch_annotations(self.client)  # one Dask span for the run: flat scheduler memory
            self.runtime.annotations = annotations
            reporter = dashboard.attach(self)  # the Streaming page of the Dask dashboard
            self.runtime.dashboard_url = dashboard.page_url(self.client) if reporter is not None else None
            self._scheduler = JobScheduler(self.clock, self.runtime.bus, self._on_batch_done, self._on_error,
                                           annotations, self.on_batch_failure)
            checkpointer = None
            if self.checkpoint_dir is not None:
                from .checkpoint import CheckpointWriter

                self._checkpoint_writer = CheckpointWriter(self.checkpoint_dir, self.checkpoint_key)
                checkpointer = self._write_checkpoint
            self._generator = JobGenerator(self.runtime.graph, self.clock, self.batch_ms, self._scheduler,
                                           self.runtime.input_info, checkpointer, annotations)
            try:
                from .sources.receiver.tracker import start_receivers

                self.runtime.receiver_tracker = start_receivers(self)  # None without receiver streams
                if self._restored is not None:
                    if self.runtime.graph.zero_time is not None:  # recovered with its graph: start the sources again
                        self.runtime.graph.restart()
                    else:  # a new graph resumed from a snapshot: on the old application's batch times
                        self.runtime.graph.start(self._restored.zero_ms)
                    self.zero_time = self.runtime.graph.zero_time
                    self._generator.restart(self._restored.time_ms, self._restored.pending_times)
                else:
                    self.zero_time = self._generator.start()
            except BaseException:
                self._release_active()
                if reporter is not None:
                    reporter.on_streaming_stopped()
                self._scheduler.stop(graceful=False)
                if self.runtime.receiver_tracker is not None:
                    self.runtime.receiver_tracker.close()
                raise
            self._state = StreamingContextState.ACTIVE
            logger.info("StreamingContext started: %s", self.runtime.graph.describe())
        self.runtime.bus.post("on_streaming_started", self.zero_time + self.batch_ms)

    @classmethod
    def get_active(cls):
        """The context started in this process and not stopped yet, or None (PySpark's ``getActive``).

        With several (one per Dask cluster), the one started last. A notebook user whose cell was run
        again reaches the context the earlier run started: ``StreamingContext.get_active().stop()``.
        """
        with _active_lock:
            refs = list(_active.values())
        for ref in reversed(refs):
            ssc = ref()
            if ssc is not None and ssc._state is StreamingContextState.ACTIVE:
                return ssc
        return None

    def _on_batch_done(self, time_ms):
        self._generator.clear(time_ms)

    def _on_error(self, error, stop: bool = True):
        if self._error is None:
            self._error = error
        # reported once: raised to whoever waits for it, else logged (nobody would see it otherwise)
        logger.log(logging.DEBUG if self._handed_to_waiter(error, stop) else logging.ERROR, "dstreams: %s", error)
        self.runtime.bus.post("on_streaming_error", error)
        if not stop:  # on_batch_failure="continue": reported; await_termination raises it, batches go on
            self._failed.set()
            return
        # stop from another thread: this one is the job executor, which stop() joins
        RoutedThread(self._stop_streaming, "dstreams-stop-on-error", args=(False,)).start()

    def stop(self, stop_client: bool | None = None, graceful: bool = False) -> None:
        """Stop the stream; idempotent.

        Parameters
        ----------
        stop_client : bool, optional
            Close the Dask client too. Default: only when the context created it (``client=None`` or
            an address); pass True to close a client you gave, False to keep an owned one.
        graceful : bool
            Finish every batch already generated before returning (Spark's ``stopGracefully``).
        """
        if self.runtime.bus.in_listener():
            # a listener runs while other threads wait to post: stopping here (which waits for those
            # threads) could deadlock, so stop from another thread and return at once
            RoutedThread(self.stop, "dstreams-stop-from-listener", args=(stop_client, graceful)).start()
            return
        self._stop_streaming(graceful)
        if stop_client is None:
            stop_client = self._owns_client
        if stop_client:
            self._close_client()

    def _stop_streaming(self, graceful: bool) -> None:
        with self._state_lock:
            if self._state is StreamingContextState.INITIALIZED:
                self._state = StreamingContextState.STOPPED
                self._terminated.set()
                return
            if self._state is StreamingContextState.STOPPED:
                wait = not self._terminated.is_set() and not self._is_job_thread()
            else:
                wait = None
                self._state = StreamingContextState.STOPPED
        if wait is not None:
            # stopped, or being stopped by another thread (a failed batch stops the context from its own
            # thread): wait until that stop is done, so the caller may close the client after this returns
            if wait and not self._terminated.wait(STOP_WAIT_S):
                logger.warning("dstreams: the context did not finish stopping within %s s", STOP_WAIT_S)
            return
        try:
            tracker = self.runtime.receiver_tracker
            if tracker is not None:  # receivers first: with graceful, a final batch takes their last blocks
                tracker.stop_receivers(graceful)
            self._generator.stop_generating(graceful,
                                            final_batch=tracker is not None and tracker.has_unallocated_blocks())
            self._scheduler.stop(graceful)  # graceful: every generated batch runs; its clean-up is queued
            self._generator.stop(graceful)  # ... and done here, with the last checkpoint
            self.runtime.graph.stop()
            if tracker is not None:
                tracker.close()
        finally:
            self._release_active()
            try:
                self.runtime.bus.post("on_streaming_stopped")
            finally:
                self._terminated.set()
        logger.info("StreamingContext stopped%s", " gracefully" if graceful else "")

    def _is_job_thread(self) -> bool:
        """Whether the calling thread runs this context's jobs (a foreach_rdd function stopping the context)."""
        scheduler = self._scheduler
        return scheduler is not None and scheduler._thread is threading.current_thread()

    def _release_active(self):
        key = getattr(self, "_active_key", None)  # the client may be closed by now: use the start-time key
        with _active_lock:
            ref = _active.get(key)
            if ref is not None and ref() is self:
                del _active[key]

    def await_termination(self, timeout=None) -> bool:
        """Wait until the context stops; re-raise the failure that stopped it.

        Returns True when it stopped, False when ``timeout`` (seconds, a ``timedelta`` or a string such as
        ``"30s"``) passed first. With ``on_batch_failure="continue"`` it raises the first failed batch's error
        as soon as there is one (as Spark's ``awaitTermination`` does), while the context keeps running
        batches until ``stop()``.
        """
        timeout = None if timeout is None else to_seconds(timeout, "await_termination(): timeout")
        with self._awaited():
            if self.on_batch_failure == "continue":
                done = self._wait_stopped_or_failed(timeout)
            else:
                done = self._terminated.wait(timeout)
        if self._error is not None:
            if self.on_batch_failure == "stop" or self._terminated.is_set():
                self._wait_stopped()
            raise self._error
        return done

    def _wait_stopped_or_failed(self, timeout) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._terminated.is_set() and not self._failed.is_set():
            left = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if left <= 0:
                break
            self._terminated.wait(left)
        return self._terminated.is_set()

    @contextlib.contextmanager
    def _awaited(self, batches: bool = False):
        """Within this block, the caller waits for the context (``await_termination``) or, with ``batches``,
        for a batch (``testing.run_batches``), and is given the failure: it is then not logged at ERROR too."""
        kind = "_awaiting_batches" if batches else "_awaiting"
        with self._awaiting_lock:
            setattr(self, kind, getattr(self, kind) + 1)
        try:
            yield
        finally:
            with self._awaiting_lock:
                setattr(self, kind, getattr(self, kind) - 1)

    def _handed_to_waiter(self, error, stop: bool) -> bool:
        """Whether a waiting thread is given ``error``: await_termination raises the first failure, and a
        batch's waiter the failure that stopped the job scheduler (not a receiver's, nor under "continue")."""
        if self._error is not error:
            return False  # a later failure under on_batch_failure="continue": never raised
        scheduler = self._scheduler
        return bool(self._awaiting) or (stop and bool(self._awaiting_batches) and scheduler is not None
                                        and scheduler.error is error)

    def _wait_stopped(self) -> None:
        """Wait until the stop that a failure started has finished, so that the caller who is given the
        failure may start a new context at once (a notebook cell run again)."""
        if not self._is_job_thread() and not self._terminated.wait(STOP_WAIT_S):
            logger.warning("dstreams: the context did not finish stopping within %s s", STOP_WAIT_S)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
