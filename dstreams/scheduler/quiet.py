"""Dask's "Compute Failed" log of a failed task, left out for the tasks of dstreams runs.

A worker logs every task that raised at ERROR, with its traceback. dstreams reports a failed batch itself,
once: the :class:`~dstreams.BatchFailedError` that ``await_termination`` raises, or one line on the
``dstreams`` logger when nobody awaits the context (see :mod:`dstreams.lifecycle`). The worker's log of
the same error would be a third copy. :class:`QuietFailuresPlugin`, registered on the workers when a
context starts (see :mod:`.spans`), drops that record for the tasks of a dstreams run: those in a span
tagged ``"dstreams"`` (every computation of a run is in its span, the user's own actions inside
``foreach_rdd`` included), and logs one line at DEBUG on the ``dstreams`` logger instead. Failures of
other work on the cluster are logged as before.
"""
from __future__ import annotations

import logging
import threading
import weakref

from distributed.diagnostics.plugin import WorkerPlugin

from .. import _compat

logger = logging.getLogger("dstreams")

PLUGIN_NAME = "dstreams-quiet-failures"


class _QuietFilter(logging.Filter):
    """On a process's worker logger: drops the failed-task records of its workers' tasks in ``tag``'s spans."""

    def __init__(self, tag: str):
        super().__init__()
        self.tag = tag
        self._lock = threading.Lock()
        self._workers: weakref.WeakSet = weakref.WeakSet()

    def add(self, worker) -> None:
        with self._lock:
            self._workers.add(worker)

    def remove(self, worker) -> None:
        with self._lock:
            self._workers.discard(worker)

    def filter(self, record) -> bool:
        key = _compat.failed_task_key(record)
        if key is None:
            return True
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            if self.tag in _compat.worker_task_span_names(worker, key):
                logger.debug("dstreams: task %s failed on worker %s; the driver reports the batch's failure",
                             key, getattr(worker, "address", "?"))
                return False
        return True


class QuietFailuresPlugin(WorkerPlugin):
    """Keeps a worker from logging the failed tasks of dstreams runs at ERROR (their driver reports them)."""

    name = PLUGIN_NAME
    idempotent = True  # registered by every context that starts: the first one stays

    def __init__(self, tag: str):
        self.tag = tag

    def setup(self, worker):
        worker_logger = logging.getLogger(_compat.WORKER_LOGGER)
        quiet = next((f for f in worker_logger.filters if isinstance(f, _QuietFilter) and f.tag == self.tag), None)
        if quiet is None:  # one per process, shared by its workers (an in-process cluster has several)
            quiet = _QuietFilter(self.tag)
            worker_logger.addFilter(quiet)
        quiet.add(worker)
        self._filter = quiet

    def teardown(self, worker):
        self._filter.remove(worker)
