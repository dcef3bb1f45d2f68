"""Which worker reads each Kafka partition: the same one batch after batch (Spark's ``PreferConsistent``).

A worker keeps one cached consumer per partition it reads (see :mod:`.consumer`). When a partition
moves to another worker, that worker creates a consumer and its first fetch starts from nothing, so
the direct stream asks Dask to run each partition's read on the worker that read it before, spreading
the partitions evenly over the workers. The request is a *loose* worker restriction
(``allow_other_workers=True``): if that worker is gone, any other may read.

Dask keeps a task with a loose restriction unrunnable if its worker left while no worker at all was
running (every worker restarting at once): when new workers join, it only looks at the restriction.
:class:`StrandedReadsPlugin`, registered on the scheduler by the stream, lifts the restriction of such
reads when a worker joins, so they run there.
"""
from __future__ import annotations

import logging

from distributed.diagnostics.plugin import SchedulerPlugin

from ..._compat import lift_stranded_restrictions

logger = logging.getLogger("dstreams")

PLUGIN_NAME = "dstreams-stranded-kafka-reads"
KEY_PREFIX = "kafka-"  # the read tasks' keys: f"kafka-{stream_id}-{batch_ms}-{run_id}"


class StrandedReadsPlugin(SchedulerPlugin):
    """Before the scheduler places unrunnable tasks on a joining worker, drop the loose restrictions of
    dstreams' Kafka reads whose workers all left (what ``allow_other_workers`` asked for)."""

    name = PLUGIN_NAME
    idempotent = True  # registered by every stream that starts: the first one stays

    def add_worker(self, scheduler, worker):
        lift_stranded_restrictions(scheduler, KEY_PREFIX)


def register(client) -> bool:
    """Register :class:`StrandedReadsPlugin` on ``client``'s scheduler (once); whether it is there."""
    try:
        client.register_plugin(StrandedReadsPlugin(), name=PLUGIN_NAME)
        return True
    except Exception as exc:  # e.g. a scheduler without dstreams installed
        logger.warning(
            "dstreams: could not register the scheduler plugin %s (%s: %s); Kafka partitions are not "
            "pinned to workers (each batch, Dask places the reads where it likes)", PLUGIN_NAME,
            type(exc).__name__, exc)
        return False


def assign(previous: dict, partitions, workers: list[str]) -> dict:
    """A worker for each of ``partitions``: each keeps its ``previous`` worker while that one is among
    ``workers`` and the spread stays even; new partitions go to the least loaded worker."""
    live, current = set(workers), set(partitions)
    assignment = {tp: w for tp, w in previous.items() if w in live and tp in current}
    load = {w: 0 for w in workers}
    for w in assignment.values():
        load[w] += 1
    for tp in sorted(current):
        if tp not in assignment:
            w = min(workers, key=lambda a: (load[a], a))
            assignment[tp] = w
            load[w] += 1
    while True:  # even the spread out (workers joined): move partitions from the busiest to the idlest
        busiest = max(workers, key=lambda a: (load[a], a))
        idlest = min(workers, key=lambda a: (load[a], a))
        if load[busiest] - load[idlest] <= 1:
            return assignment
        tp = max(tp for tp, w in assignment.items() if w == busiest)
        assignment[tp] = idlest
        load[busiest] -= 1
        load[idlest] += 1
