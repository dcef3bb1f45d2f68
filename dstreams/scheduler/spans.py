"""One Dask span for every batch of a run, and a scheduler plugin that keeps its bookkeeping flat.

Left alone, distributed opens a new "default" span whenever the cluster went idle, so a stream gets
a span or two per batch; the scheduler keeps every span and every TaskGroup it held for good, and
each worker keeps its fine performance metrics per span (distributed issue 7977): memory that grows
with the number of batches on the scheduler and on every worker. dstreams submits each run's
computations under one span, tagged ``"dstreams"`` (the workers' metric keys then stay a fixed set),
and :class:`SpanTrimmerPlugin` drops from it what the scheduler itself has forgotten. Dask's cache of
task-key names (bounded, but at 100,000 keys that it keeps alive) is kept under
:data:`KEY_CACHE_LIMIT` by the same plugin on the scheduler and :class:`KeyCacheTrimmerPlugin` on the
workers. The span also tells the workers which failed tasks not to log (see :mod:`.quiet`).
"""
from __future__ import annotations

import logging

import dask
from distributed import span
from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

from .. import _compat
from .quiet import QuietFailuresPlugin

logger = logging.getLogger("dstreams")

SPAN_TAG = "dstreams"
PLUGIN_NAME = "dstreams-span-trimmer"


#: task-key names Dask's key cache may hold before a plugin empties it (see ``_compat.trim_key_cache``)
KEY_CACHE_LIMIT = 20_000
WORKER_PLUGIN_NAME = "dstreams-key-cache-trimmer"
TRIM_EVERY_MS = 10_000


class SpanTrimmerPlugin(SchedulerPlugin):
    """Each time a graph arrives, forget the finished TaskGroups of the spans tagged ``"dstreams"``, and
    keep Dask's cache of task-key names small."""

    name = PLUGIN_NAME
    idempotent = True  # registered by every context that starts: the first one stays

    def update_graph(self, scheduler, **kwargs):
        _compat.trim_spans(scheduler, SPAN_TAG)
        _compat.trim_key_cache(KEY_CACHE_LIMIT)


class KeyCacheTrimmerPlugin(WorkerPlugin):
    """On a worker, keeps Dask's cache of task-key names small: every batch's task keys are new, so the
    cache would otherwise grow to its bound of 100,000 keys (about 20 MB) over half an hour."""

    name = WORKER_PLUGIN_NAME
    idempotent = True

    def setup(self, worker):
        from tornado.ioloop import PeriodicCallback

        self.callback = PeriodicCallback(lambda: _compat.trim_key_cache(KEY_CACHE_LIMIT), TRIM_EVERY_MS)
        self.callback.start()

    def teardown(self, worker):
        self.callback.stop()


def batch_annotations(client) -> dict:
    """The Dask annotations for every computation of one run (pass to ``dask.annotate``): one new span,
    nested in the caller's span if any. Registers :class:`SpanTrimmerPlugin` on the scheduler, and
    :class:`KeyCacheTrimmerPlugin` and :class:`~.quiet.QuietFailuresPlugin` on the workers."""
    with span(SPAN_TAG):
        annotations = {"span": dask.get_annotations()["span"]}
    plugins = ((SpanTrimmerPlugin(), "the memory of the scheduler will grow slowly with the number of batches"),
               (KeyCacheTrimmerPlugin(), "the memory of the workers will grow slowly with the number of batches"),
               (QuietFailuresPlugin(SPAN_TAG), "the workers log the run's failed tasks as well"))
    for plugin, without in plugins:
        try:
            client.register_plugin(plugin, name=plugin.name)
        except Exception as exc:  # e.g. dstreams not installed there, or pickled plugins refused
            logger.warning("dstreams: could not register the plugin %s (%s: %s); %s: install dstreams where they "
                           "run", plugin.name, type(exc).__name__, exc, without)
    return annotations
