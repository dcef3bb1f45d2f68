"""The task attempts of receivers: launching each as a Dask task, watching it, restarting it.

A receiver runs as one long-lived task (an *attempt*) on a worker that :func:`.scheduling.choose_worker`
picks. When the task ends, fails, is cancelled or its worker leaves the cluster, the receiver is
launched again as a new task under a new key after ``restart_delay`` seconds (avoiding a worker that
killed it), at most ``max_restarts`` times in a row; past that the context stops with a
:class:`~dstreams.errors.ReceiverError`. :class:`ReceiverAttempts` is a base class of
:class:`~dstreams.sources.receiver.tracker.ReceiverTracker`, which owns the state these methods use.
"""
from __future__ import annotations

import dataclasses
import logging
import time

from distributed import KilledWorker

from ...errors import ReceiverError
from ...listener import ReceiverInfo
from .scheduling import choose_worker
from .supervisor import ReceiverSpec, error_text, run_receiver

logger = logging.getLogger("dstreams")


class _Attempt:
    """One task run of a receiver, with the event that tells it to stop."""

    def __init__(self, number, future, worker, stop_event):
        self.number, self.future, self.worker, self.stop_event = number, future, worker, stop_event
        self.launched = time.monotonic()
        self.ended = False

    def signal_stop(self) -> None:
        """Tell the task to end (a cancelled Dask task goes on running: the supervisor must end itself)."""
        try:
            self.stop_event.set()
        except Exception:
            logger.exception("could not signal the receiver task %s to stop", self.future.key)


class _ReceiverState:
    def __init__(self, stream):
        self.stream = stream
        self.info = ReceiverInfo(stream.id, stream.receiver_name)
        self.attempt: _Attempt | None = None
        self.failures_in_row = 0
        self.restart_due: float | None = None
        self.exclude: set[str] = set()
        self.finished = False  # stopped for good
        self.past: list[_Attempt] = []  # ended attempts whose stop events are still to be cleared


class ReceiverAttempts:
    """Launch, watch and restart the receivers' tasks (a base class of ReceiverTracker, not used alone)."""

    def _check_attempts(self) -> None:
        events, give_up = [], []
        with self._lock:
            for state in self.states.values():
                a = state.attempt
                if a is not None and not a.ended:
                    if a.future.done():
                        self._attempt_ended(state, a, events, give_up)
                    elif self._worker_gone(a):
                        a.signal_stop()  # in case it still runs after all
                        a.future.cancel()
                        a.ended = True
                        state.exclude.add(a.worker)
                        msg = f"the worker {a.worker} running receiver {state.info.name} died"
                        self._ended(state, "restart", msg, "WorkerDied", events, give_up)
                if (state.restart_due is not None and not self._stopping
                        and time.monotonic() >= state.restart_due):
                    state.restart_due = None
                    self._launch(state)
        self._post(events)
        for err in give_up:
            self.ssc.runtime.report_error(err)

    def _worker_gone(self, a) -> bool:
        """Whether the worker of attempt ``a`` left the cluster, seen in a list taken after its launch."""
        if self._live_workers is None:
            return False
        seen_at, live = self._live_workers
        return seen_at > a.launched and a.worker not in live

    def _attempt_ended(self, state, a, events, give_up) -> None:
        a.ended = True
        if a.future.status == "finished":
            result = a.future.result()
            kind, message, error = result["kind"], result["message"], result.get("error")
        elif a.future.status == "cancelled":
            kind, message, error = "restart", f"the task of receiver {state.info.name} was cancelled", None
        else:
            exc = a.future.exception()
            kind, message, error = "restart", f"the task of receiver {state.info.name} failed", error_text(exc)
            if isinstance(exc, KilledWorker):
                state.exclude.add(a.worker)
        a.future.release()
        self._ended(state, kind, message, error, events, give_up)

    def _ended(self, state, kind, message, error, events, give_up) -> None:
        info = state.info
        info.active = False
        if error is not None:
            events.append(("on_receiver_error", self._error(state, message, error)))
        if kind == "restart" and not self._stopping:
            max_restarts = state.stream.max_restarts
            if state.failures_in_row >= max_restarts:
                state.finished = True
                events.append(("on_receiver_stopped", dataclasses.replace(info)))
                give_up.append(ReceiverError(
                    f"receiver {info.name} of stream {state.stream.id} failed {state.failures_in_row + 1} time(s) "
                    f"in a row and is not restarted again (max_restarts={max_restarts}); last: {message}"
                    f"{': ' + error if error else ''}. Fix the source, or pass a larger max_restarts to "
                    "receiver_stream()"))
                return
            state.failures_in_row += 1
            info.restarts += 1
            state.restart_due = time.monotonic() + state.stream.restart_delay
            logger.warning("receiver %s ended (%s); restarting it in %s s", info.name, message,
                           state.stream.restart_delay)
        else:
            state.finished = True
            if kind == "stopped" and message != "stopped by the driver":
                logger.warning("receiver %s stopped: %s", info.name, message)
        events.append(("on_receiver_stopped", dataclasses.replace(info)))

    def _error(self, state, message, error) -> ReceiverInfo:
        info = state.info
        info.last_error_message, info.last_error = message, error
        info.last_error_time_ms = self.clock.time_ms()
        return dataclasses.replace(info)

    def running_on(self) -> dict[str, int]:
        """How many receiver tasks run on each worker (each holds one of its threads)."""
        load: dict[str, int] = {}
        with self._lock:
            for s in self.states.values():
                if s.attempt is not None and not s.attempt.ended:
                    load[s.attempt.worker] = load.get(s.attempt.worker, 0) + 1
        return load

    def _launch(self, state) -> None:
        """Submit a new attempt of ``state``'s receiver (a new task, a new key) on a chosen worker."""
        stream = state.stream
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        nthreads = {a: w["nthreads"] for a, w in workers.items()}
        self._nthreads.update(nthreads)
        names = {a: w.get("name") for a, w in workers.items()}
        addr = choose_worker(nthreads, self.running_on(), getattr(stream.receiver, "preferred_worker", None),
                             state.exclude, names)
        if addr is None:
            logger.warning("no live worker can run receiver %s now; trying again in %s s", state.info.name,
                           max(stream.restart_delay, 0.5))
            state.restart_due = time.monotonic() + max(stream.restart_delay, 0.5)
            return
        from distributed import Event

        from ...signing import data_key

        number = state.info.attempt + 1
        stop_event = Event(f"dstreams-receiver-stop-{self.ssc.run_id}-{stream.id}-{number}", client=self.client)
        spec = ReceiverSpec(stream.id, state.info.name, number, self.ssc.run_id, self.queue_name,
                            stop_event.name, stream.block_interval_ms / 1000.0, stream.max_rate,
                            stream.replicate, stream.wal_dir(), stream.rate_variable_name(),
                            stream.initial_rate if stream.backpressure else None,
                            data_key(self.ssc.checkpoint_key) if stream.wal_dir() is not None else None)
        future = self.client.submit(run_receiver, stream.receiver, spec, key=f"receiver-task-{stream.id}-"
                                    f"{self.ssc.run_id}-{number}", workers=[addr], allow_other_workers=False,
                                    pure=False)
        if state.attempt is not None:
            state.past.append(state.attempt)
        state.attempt = _Attempt(number, future, addr, stop_event)
        state.info.attempt = number
        state.info.worker = addr
