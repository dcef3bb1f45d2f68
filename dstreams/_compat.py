"""Every private Dask / distributed internal dstreams touches, in one place, version-checked.

What is here and why
--------------------
- dask's task specification (``Task``, ``TaskRef``, ``DataNode``, ``List``, ``Alias``): how batches'
  graphs are written; a dask without them is refused at import, naming the versions to install.
- distributed: ``Client._scatter`` (a receiver stores a block on the worker it chooses), a worker's
  task states, the scheduler's unrunnable tasks and their restrictions (Kafka reads stranded when every
  worker left), ``distributed.utils.sync``, and the spans' bookkeeping below.
- kafka-python's fetcher internals are checked where the record decoder lives (see the end).

distributed attributes each computation to a *span* (``distributed.spans``) and keeps every span, and
every TaskGroup a span ever held, for the life of the scheduler (distributed issue 7977): a stream
that submits a few computations per batch for months would grow the scheduler without bound.
dstreams puts all the batches of a run under one span (public API, :mod:`dstreams.scheduler.spans`)
and trims that span's bookkeeping here: the TaskGroups the scheduler already forgot, and the list of
computed collections in the span's metadata.

When the installed distributed lacks what this module expects, it warns once at import, saying what
to upgrade, and the trimming becomes a no-op (the stream works; the scheduler's memory then grows
slowly with the number of batches).
"""
from __future__ import annotations

import logging
import warnings

import distributed

logger = logging.getLogger("dstreams")

#: the distributed release (year, month) this module was written against and tested with
TESTED_DISTRIBUTED = (2026, 8)

#: computed collections kept in a span's metadata (distributed appends one entry per computation)
MAX_SPAN_COLLECTIONS = 100


def _version(text: str) -> tuple[int, int]:
    try:
        year, month = text.split(".")[:2]
        return int(year), int(month)
    except ValueError:
        return (0, 0)


def _spans_look_as_expected() -> bool:
    try:
        from distributed.spans import Span, SpansSchedulerExtension
    except ImportError:
        return False
    return ({"groups", "_metadata"} <= set(Span.__slots__)
            and hasattr(SpansSchedulerExtension, "find_by_tags"))


DISTRIBUTED_VERSION = _version(distributed.__version__)
SPAN_TRIMMING = _spans_look_as_expected()

if not SPAN_TRIMMING:
    warnings.warn(
        f"dstreams: distributed {distributed.__version__} does not have the span bookkeeping dstreams "
        "trims (distributed.spans.Span.groups/_metadata); long-running streams will slowly grow the "
        "scheduler's memory. Upgrade dstreams, or install distributed "
        f"{TESTED_DISTRIBUTED[0]}.{TESTED_DISTRIBUTED[1]}, the release it was tested with.",
        RuntimeWarning, stacklevel=2)
elif DISTRIBUTED_VERSION != TESTED_DISTRIBUTED:
    logger.info("dstreams: tested with distributed %d.%d, found %s; if the scheduler's memory grows with the "
                "number of batches, upgrade dstreams", *TESTED_DISTRIBUTED, distributed.__version__)


def trim_spans(scheduler, tag: str) -> int:
    """Forget the bookkeeping of finished work in the scheduler's spans tagged ``tag``; runs on the scheduler.

    Drops from each span the TaskGroups the scheduler itself already forgot (all their tasks are
    forgotten), keeping the latest one (``Span.stop`` is the maximum over the span's groups), and cuts
    the dropped groups' links to their dependencies' groups, so that a chain of batches (a stateful
    stream: each batch's state depends on the previous one) is not kept alive through them. Keeps the
    last :data:`MAX_SPAN_COLLECTIONS` entries of the span's metadata. Returns how many groups it dropped.
    """
    ext = scheduler.extensions.get("spans")
    if not SPAN_TRIMMING or ext is None:
        return 0
    live = scheduler.task_groups
    dropped = 0
    for span in ext.spans_search_by_tag.get(tag, ()):
        forgotten = [tg for tg in span.groups if live.get(tg.name) is not tg]
        if forgotten and len(forgotten) == len(span.groups):
            forgotten.remove(max(forgotten, key=lambda tg: tg.stop))
        for tg in forgotten:
            span.groups.discard(tg)
            tg.dependencies.clear()
        dropped += len(forgotten)
        metadata = span._metadata
        if metadata and len(metadata.get("collections", ())) > MAX_SPAN_COLLECTIONS:
            del metadata["collections"][:-MAX_SPAN_COLLECTIONS]
    return dropped


def scheduler_bookkeeping(scheduler) -> dict[str, int]:
    """Sizes of the scheduler's per-computation records: spans, the TaskGroups they hold, TaskGroups
    and task prefixes; for tests and the soak benchmark."""
    ext = scheduler.extensions.get("spans")
    spans = list(ext.spans.values()) if ext is not None else []
    return {
        "spans": len(spans),
        "span_groups": sum(len(span.groups) for span in spans) if SPAN_TRIMMING else 0,
        "task_groups": len(scheduler.task_groups),
        "task_prefixes": len(scheduler.task_prefixes),
    }


def task_groups_outside_history(scheduler) -> int:
    """Live TaskGroup objects in the scheduler's process, leaving out those that only the scheduler's
    bounded history of recent computations (``Scheduler.computations``, its last 100) holds; for tests."""
    import gc

    from distributed.scheduler import TaskGroup

    gc.collect()
    held = {id(tg) for computation in getattr(scheduler, "computations", ()) for tg in computation.groups}
    live = {id(tg) for tg in scheduler.task_groups.values()}
    return sum(1 for o in gc.get_objects() if isinstance(o, TaskGroup) and (id(o) not in held or id(o) in live))


def worker_metric_keys(worker) -> int:
    """How many fine-performance-metric keys a worker keeps (``Server.digests_total``, keyed by span)."""
    return len(getattr(worker, "digests_total", ()))


# ---------------------------------------------------------------------------------------------
# dask's task specification: the graph nodes dstreams builds its batches from (dask.\_task_spec is not
# public, but it is how current Dask graphs are written; the names below are the whole of what we use)

try:
    from dask._task_spec import Alias, DataNode, List, Task, TaskRef  # noqa: F401  (re-exported)
except ImportError as exc:  # pragma: no cover - an old or a much newer dask
    import dask

    raise ImportError(
        f"dstreams builds its graphs with dask._task_spec (Task, TaskRef, DataNode, List, Alias), which dask "
        f"{dask.__version__} does not have in that form; install dask and distributed 2024.12 or newer, or "
        "upgrade dstreams") from exc


# ---------------------------------------------------------------------------------------------
# distributed: scattering from inside a task, the event-loop helper, the scheduler's unrunnable tasks



from distributed.utils import sync  # noqa: E402, F401  (runs a coroutine on a worker's loop from its threads)


def scatter_from_task(client, key, data, **where):
    """``{key: data}`` scattered with ``Client._scatter`` (``where``: ``local_worker=``, or ``workers=`` with
    ``direct=True, local_worker=None``), which a task needs to choose the worker its data goes to; returns
    the future. ``Client.scatter`` in a task always stores on the calling thread's worker."""
    return client.sync(client._scatter, {key: data}, hash=False, **where)[key]


def worker_task_state(worker, key):
    """The state (``"memory"``, ``"cancelled"``, ...) of ``key`` on ``worker``, or None when it does not know it."""
    ts = worker.state.tasks.get(key)
    return None if ts is None else ts.state


def lift_stranded_restrictions(scheduler, key_prefix: str) -> int:
    """Drop the loose worker restrictions of unrunnable tasks whose keys start with ``key_prefix`` and whose
    workers all left; returns how many. Runs on the scheduler (see ``sources.kafka.placement``)."""
    lifted = 0
    for ts in list(scheduler.unrunnable):
        key = ts.key[0] if isinstance(ts.key, tuple) else ts.key
        if (ts.loose_restrictions and ts.worker_restrictions and str(key).startswith(key_prefix)
                and not any(w in scheduler.workers for w in ts.worker_restrictions)):
            ts.worker_restrictions = set()
            ts.loose_restrictions = False
            lifted += 1
    return lifted


# ---------------------------------------------------------------------------------------------
# kafka-python: dstreams' record decoder plugs into the consumer's fetcher (``KafkaConsumer._fetcher``,
# ``Fetcher.PartitionRecords._unpack_records``, ``DefaultRecordBatch._buffer/_pos/_num_records``). Those are
# checked where the decoder lives, at its import: ``dstreams.sources.kafka.decoder.SUPPORTED``; where they
# differ, kafka-python decodes as usual and the test ``test_the_decoder_fits_the_installed_kafka_python``
# fails so that the change is noticed.
