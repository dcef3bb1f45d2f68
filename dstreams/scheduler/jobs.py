"""JobScheduler: runs each batch's jobs on the driver, in batch order, and records what happened."""
from __future__ import annotations

import logging
import queue
import threading

import dask

from .._util import describe_failure, ms_to_datetime
from ..errors import BatchFailedError, StreamingError  # noqa: F401 - StreamingError: its old import path
from ..listener import BatchInfo, OutputOperationInfo
from ..notebook import RoutedThread

logger = logging.getLogger("dstreams")


class JobSet:
    """The jobs of one batch time and that batch's record."""

    def __init__(self, time_ms, jobs, info: BatchInfo, on_jobs_done=None):
        self.time_ms, self.jobs, self.info = time_ms, jobs, info
        self.on_jobs_done = on_jobs_done  # called after the jobs ran, before on_batch_completed


class JobScheduler:
    """Runs job sets one batch at a time on a dedicated thread (Spark's ``concurrentJobs = 1``).

    It reports each batch to the listener bus, tells ``on_batch_done(time)`` when a batch finished
    (the generator clears metadata then), and ``on_error(error)`` when one failed. The jobs run under
    ``dask.annotate(**annotations)`` (the run's span, see :mod:`.spans`). It keeps nothing per batch:
    only the last batch that finished. With ``on_batch_failure="continue"`` a failed batch is reported
    with ``on_error(error, stop=False)`` and counts as finished, and the next batches run (Spark's way).
    """

    def __init__(self, clock, bus, on_batch_done, on_error, annotations: dict | None = None,
                 on_batch_failure: str = "stop"):
        self.clock, self.bus = clock, bus
        self.on_batch_done, self.on_error = on_batch_done, on_error
        self.on_batch_failure = on_batch_failure
        self.annotations = annotations or {}
        self._queue: queue.Queue = queue.Queue()
        self._cond = threading.Condition()
        self.last_completed: int | None = None
        self.error: BaseException | None = None
        self._stopping = False
        self._thread = RoutedThread(self._loop, "dstreams-job-executor")
        self._thread.start()

    # -- submission ------------------------------------------------------------------------
    def submit(self, job_set: JobSet) -> None:
        self.bus.post("on_batch_submitted", job_set.info)
        self._queue.put(job_set)

    def report_generation_error(self, time_ms, exc, reason: str | None = None) -> None:
        """Fail the batch ``time_ms`` whose jobs could not be built; ``reason`` says why (default: ``exc``)."""
        err = BatchFailedError(
            f"batch {ms_to_datetime(time_ms)} ({time_ms} ms) could not be built: "
            f"{reason or f'{type(exc).__name__}: {exc}'}", time_ms, "job generation")
        err.__cause__ = exc
        self._fail(err)

    # -- execution -------------------------------------------------------------------------
    def _loop(self) -> None:
        with dask.annotate(**self.annotations):
            while True:
                job_set = self._queue.get()
                if job_set is None:
                    return
                if self._stopping or self.error is not None:
                    continue
                self._run(job_set)

    def _run(self, job_set: JobSet) -> None:
        info = job_set.info
        info.processing_start_time_ms = self.clock.time_ms()
        self.bus.post("on_batch_started", info)
        failure = None
        for job in job_set.jobs:
            op = OutputOperationInfo(job_set.time_ms, job.output_id, job.description, self.clock.time_ms())
            info.output_operations[job.output_id] = op
            if failure is not None:  # later operations (say, an offset commit) must not run after a failure
                op.failure_reason = f"not run: output operation {failure.operation!r} of this batch failed"
                op.end_time_ms = op.start_time_ms
                self.bus.post("on_output_operation_completed", op)
                continue
            self.bus.post("on_output_operation_started", op)
            try:
                job.run()
            except BaseException as exc:  # noqa: B036 - a user function may raise anything
                reason = getattr(job, "failure_reason", None)
                op.failure_reason = reason(exc) if reason is not None else describe_failure(exc)
                if failure is None:
                    failure = BatchFailedError(
                        f"batch {ms_to_datetime(job_set.time_ms)} ({job_set.time_ms} ms) failed in output "
                        f"operation {job.output_id} ({job.description}): {op.failure_reason}",
                        job_set.time_ms, job.description)
                    failure.__cause__ = exc
            op.end_time_ms = self.clock.time_ms()
            self.bus.post("on_output_operation_completed", op)
        info.processing_end_time_ms = self.clock.time_ms()
        if job_set.on_jobs_done is not None:
            try:
                job_set.on_jobs_done()
            except Exception:
                logger.exception("dstreams: completing the input info of batch %d ms failed", job_set.time_ms)
        self.bus.post("on_batch_completed", info)
        if failure is not None:
            if self.on_batch_failure == "stop":
                self._fail(failure)
                return
            self.on_error(failure, stop=False)
        self.on_batch_done(job_set.time_ms)  # queues its clean-up before anyone waiting for it wakes up
        with self._cond:
            self.last_completed = job_set.time_ms
            self._cond.notify_all()

    def _fail(self, err: BaseException) -> None:
        with self._cond:
            if self.error is None:
                self.error = err
        self.on_error(err)  # starts the stop before waiters wake, so they can wait for it to finish
        with self._cond:
            self._cond.notify_all()

    # -- waiting and stopping --------------------------------------------------------------
    def wait_for(self, time_ms: int, timeout: float | None) -> None:
        """Block until batch ``time_ms`` completed; raise its failure, or TimeoutError."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: self.error is not None or self._stopping
                or (self.last_completed is not None and self.last_completed >= time_ms),
                timeout,
            )
            if self.error is not None:
                raise self.error
            if not ok:
                raise TimeoutError(
                    f"batch {ms_to_datetime(time_ms)} ({time_ms} ms) did not finish within {timeout} s; "
                    f"last finished batch: {self.last_completed}; a job may be slow or stuck"
                )
            if self.last_completed is None or self.last_completed < time_ms:
                raise RuntimeError(f"the StreamingContext stopped before batch {time_ms} ms finished")

    def pending(self) -> int:
        return self._queue.qsize()

    def stop(self, graceful: bool, timeout: float = 60.0) -> None:
        """Stop; with ``graceful`` every submitted batch is run first, otherwise queued ones are dropped."""
        if not graceful:
            self._stopping = True
        self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
