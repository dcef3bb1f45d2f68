"""One Dask span for every batch of a run, and a scheduler plugin that keeps its bookkeeping flat.

Left alone, distributed opens a new "default" span whenever the cluster went idle, so a stream gets
a span or two per batch; the scheduler keeps every span and every TaskGroup it held for good, and
each worker keeps its fine performance metrics per span (distributed issue 7977): memory that grows
with the number of batches on the scheduler and on every worker. dstreams submits each run's
computations under one span, tagged ``"dstreams"`` (the workers' metric keys then stay a fixed set),
and :class:`SpanTrimmerPlugin` drops from it what the scheduler itself has forgotten.
"""
from __future__ import annotations

import logging

import dask
from distributed import span
from distributed.diagnostics.plugin import SchedulerPlugin

from .. import _compat

logger = logging.getLogger("dstreams")

SPAN_TAG = "dstreams"
PLUGIN_NAME = "dstreams-span-trimmer"


class SpanTrimmerPlugin(SchedulerPlugin):
    """Each time a graph arrives, forget the finished TaskGroups of the spans tagged ``"dstreams"``."""

    name = PLUGIN_NAME
    idempotent = True  # registered by every context that starts: the first one stays

    def update_graph(self, scheduler, **kwargs):
        _compat.trim_spans(scheduler, SPAN_TAG)


def batch_annotations(client) -> dict:
    """The Dask annotations for every computation of one run (pass to ``dask.annotate``): one new span,
    nested in the caller's span if any. Registers :class:`SpanTrimmerPlugin` on the scheduler."""
    with span(SPAN_TAG):
        annotations = {"span": dask.get_annotations()["span"]}
    try:
        client.register_plugin(SpanTrimmerPlugin(), name=PLUGIN_NAME)
    except Exception as exc:  # e.g. a scheduler without dstreams installed, or refusing pickled plugins
        logger.warning(
            "dstreams: could not register the scheduler plugin %s (%s: %s); the scheduler's memory will "
            "grow slowly with the number of batches: install dstreams where the scheduler runs",
            PLUGIN_NAME, type(exc).__name__, exc)
    return annotations
