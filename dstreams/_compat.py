"""Every private Dask / distributed / kafka-python internal dstreams touches, in one place, version-checked.

What is here and why
--------------------
- dask's task specification (``Task``, ``TaskRef``, ``DataNode``, ``List``, ``Alias``): how batches'
  graphs are written; a dask without them is refused at import, naming the versions to install.
- distributed: ``Client._scatter`` (a receiver stores a block on the worker it chooses), a worker's
  task states, the scheduler's unrunnable tasks and their restrictions (Kafka reads stranded when every
  worker left), ``distributed.utils.sync``, the spans' bookkeeping below, and a worker's "Compute Failed"
  log record (the failed task's key is its first argument), which dstreams leaves out for its own tasks.
- cloudpickle: the order in which it loads a function copied by value (the function, then its
  ``__dict__``), which lets the user's functions keep their file names; checked by a round trip at first
  use, without which tracebacks show "<dynamic-code>" as before.
- kafka-python: the consumer's fetcher, where dstreams' record decoder plugs in (see the end); checked
  when the decoder is first imported (``import dstreams`` alone does not load kafka-python). Where they
  differ, the decoder stays off and kafka-python decodes records itself.

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

import functools
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


def trim_key_cache(limit: int) -> bool:
    """Empty Dask's cache of task-key names (``dask.utils.key_split``, a ``functools.lru_cache`` of
    100,000 keys that keeps each key alive) once it holds more than ``limit``: a stream's keys are new
    every batch, so the cache would otherwise fill up to about 20 MB in every scheduler and worker
    process. Returns whether it was emptied; the cache refills with the keys in use."""
    from dask.utils import key_split

    info = getattr(key_split, "cache_info", None)
    if info is None or info().currsize <= limit:
        return False
    key_split.cache_clear()
    return True


def add_dashboard_page(scheduler, page: str) -> bool:
    """Add ``page`` (a route beside ``status``) to the menu bar of the Dask dashboard's pages: the
    ``pages`` list of the template variables that distributed's bokeh applications share. False when
    the dashboard is not built that way (no bokeh, another distributed): the page is still served."""
    import functools

    added = False
    try:
        for app in scheduler.http_application.applications:
            for context in getattr(app, "_applications", {}).values():
                for handler in context.application.handlers:
                    func = getattr(handler, "_func", None)
                    if not isinstance(func, functools.partial) or len(func.args) < 2:
                        continue
                    pages = func.args[1].get("pages") if isinstance(func.args[1], dict) else None
                    if isinstance(pages, list):
                        if page not in pages:
                            pages.append(page)
                        added = True
    except Exception:  # noqa: BLE001 - any change inside distributed's dashboard: no link, nothing else
        return False
    return added


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
# distributed: a worker's log of a failed task ("Compute Failed"), for dstreams.scheduler.quiet

#: the logger a worker logs a failed task on, and how that record's message starts; its first argument
#: is the task's key (``Worker.execute``)
WORKER_LOGGER = "distributed.worker"
COMPUTE_FAILED = "Compute Failed"


def failed_task_key(record):
    """The key of the task that a worker's "Compute Failed" log record is about; None for another record."""
    msg, args = record.msg, record.args
    if isinstance(msg, str) and msg.startswith(COMPUTE_FAILED) and isinstance(args, tuple) and args:
        return args[0]
    return None


def worker_task_span_names(worker, key) -> tuple:
    """The names of the spans ``key`` runs in on ``worker`` (its ``span`` annotation), outermost first; ()
    when the worker does not know the task or it has no span."""
    ts = worker.state.tasks.get(key)
    span = (getattr(ts, "annotations", None) or {}).get("span") if ts is not None else None
    names = span.get("name") if isinstance(span, dict) else None
    return tuple(names) if isinstance(names, (tuple, list)) else ()


# ---------------------------------------------------------------------------------------------
# cloudpickle: the file names of the user's functions
#
# cloudpickle copies by value a function that cannot be imported by name (one of ``__main__``, a notebook
# cell, a lambda or nested function) and writes its code's file name as "<dynamic-code>", so that the bytes
# are the same wherever it was defined: a traceback from a worker, or from a function read back from a
# checkpoint, then shows "<dynamic-code>" where the user's file was. cloudpickle writes such a function's
# ``__dict__`` after it made the function object and remembered it in the pickle; so an entry of that
# ``__dict__`` whose ``__reduce__`` refers to the function is loaded with the function at hand, and puts its
# file name back. ``keep_code_file`` adds that entry. A round trip at first use checks that the installed
# cloudpickle works this way; when it does not, nothing is added (tracebacks show "<dynamic-code>").

#: the attribute of a user function holding its file name for cloudpickle's copies
CODE_FILE_ATTRIBUTE = "__dstreams_code_file__"
#: what cloudpickle writes in place of a code object's file name
DYNAMIC_CODE = "<dynamic-code>"


class _CodeFile:
    """A function's file name, which its by-value copies get back when loaded (see above)."""

    __slots__ = ("_func", "filename")

    def __init__(self, func, filename: str):
        import weakref

        self._func = weakref.ref(func)
        self.filename = filename

    def __reduce__(self):
        return _code_file_restored, (self._func(), self.filename)

    def __repr__(self):
        return f"<code file {self.filename!r}>"


def _with_file(code, filename: str):
    consts = tuple(_with_file(c, filename) if isinstance(c, type(code)) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _code_file_restored(func, filename: str):
    """Loading a by-value copy of ``func``: put its file name back; the new entry of its ``__dict__``."""
    if func is None:
        return filename
    try:
        if func.__code__.co_filename == DYNAMIC_CODE:
            func.__code__ = _with_file(func.__code__, filename)
        return _CodeFile(func, filename)
    except (AttributeError, TypeError, ValueError):
        return filename


@functools.cache
def _code_file_round_trip() -> bool:
    import cloudpickle

    def probe():
        return None

    probe.__dict__[CODE_FILE_ATTRIBUTE] = _CodeFile(probe, "probe.py")
    try:
        ok = cloudpickle.loads(cloudpickle.dumps(probe)).__code__.co_filename == "probe.py"
    except Exception:  # noqa: BLE001 - any change inside cloudpickle: no file names, nothing else
        ok = False
    if not ok:
        logger.info("dstreams: cloudpickle %s does not load a function's attributes as dstreams expects; "
                    "tracebacks of functions copied to the workers show '<dynamic-code>' for their file",
                    cloudpickle.__version__)
    return ok


def has_code_file(func) -> bool:
    """Whether :func:`keep_code_file` was applied to ``func``."""
    return CODE_FILE_ATTRIBUTE in getattr(func, "__dict__", ())


def keep_code_file(func) -> None:
    """Make cloudpickle's by-value copies of ``func`` (a Python function) keep its code's file name."""
    filename = func.__code__.co_filename
    if filename == DYNAMIC_CODE or not _code_file_round_trip():
        return
    current = func.__dict__.get(CODE_FILE_ATTRIBUTE)
    if not (isinstance(current, _CodeFile) and current.filename == filename):
        func.__dict__[CODE_FILE_ATTRIBUTE] = _CodeFile(func, filename)


# ---------------------------------------------------------------------------------------------
# kafka-python: dstreams' record decoder (``sources.kafka.decoder``) plugs into the consumer's fetcher. It
# subclasses ``Fetcher.PartitionRecords`` and overrides its ``_unpack_records`` generator, reads a v2 batch's
# records from ``DefaultRecordBatch._maybe_uncompress/_buffer/_pos/_num_records``, builds ``ConsumerRecord``
# tuples field by field, and sets its class on ``KafkaConsumer._fetcher``. All of it is reached through
# the three functions below, resolved once.

#: the kafka-python releases whose fetcher internals the decoder was written against and tested with
TESTED_KAFKA_PYTHON = "2.2 to 3.0"

#: kafka-python's ``ConsumerRecord`` fields, in the order the decoder builds them
CONSUMER_RECORD_FIELDS = (
    "topic", "partition", "leader_epoch", "offset", "timestamp", "timestamp_type", "key", "value",
    "headers", "checksum", "serialized_key_size", "serialized_value_size", "serialized_header_size",
)  # fmt: skip


@functools.cache
def kafka_partition_records() -> type | None:
    """kafka-python's ``Fetcher.PartitionRecords`` (one partition's buffered fetch) opened for a decoder, or
    None when the installed kafka-python's internals are not those the decoder plugs into (logged once).

    A subclass implements ``decode_batches(tp, records)``, a generator of the ``ConsumerRecord`` of
    ``records`` (a ``MemoryRecords``) that keeps the reading state (``next_fetch_offset``, ``leader_epoch``,
    ``records_read``, ``bytes_read``) as kafka-python does; it may hand any part to
    ``kafka_python_records(tp, records)``, kafka-python's own decoding. A consumer with deserializers
    always decodes through kafka-python.
    """
    import kafka
    from kafka.consumer.fetcher import ConsumerRecord, Fetcher
    from kafka.record.default_records import DefaultRecordBatch

    base = getattr(Fetcher, "PartitionRecords", None)
    if not (ConsumerRecord._fields == CONSUMER_RECORD_FIELDS
            and base is not None
            and callable(getattr(base, "_unpack_records", None))
            and {"_buffer", "_pos", "_num_records"} <= set(getattr(DefaultRecordBatch, "__slots__", ()))
            and callable(getattr(DefaultRecordBatch, "_maybe_uncompress", None))):
        logger.info("dstreams: kafka-python %s's fetcher is not the one dstreams' record decoder plugs into "
                    "(tested with kafka-python %s); kafka-python decodes records itself, correctly and about "
                    "2.5x slower. Upgrade dstreams, or install a kafka-python it was tested with",
                    kafka.__version__, TESTED_KAFKA_PYTHON)
        return None

    class DecodingPartitionRecords(base):
        def _unpack_records(self, tp, records, key_deserializer, value_deserializer):
            if key_deserializer is None and value_deserializer is None:
                return self.decode_batches(tp, records)
            return super()._unpack_records(tp, records, key_deserializer, value_deserializer)

        def kafka_python_records(self, tp, records):
            return super()._unpack_records(tp, records, None, None)

    return DecodingPartitionRecords


def v2_batch_records(batch) -> tuple[bytes, int, int]:
    """A v2 ``DefaultRecordBatch``'s records, decompressed: (the batch's bytes, where its first record
    starts, how many records); only where :func:`kafka_partition_records` is not None."""
    batch._maybe_uncompress()
    return bytes(batch._buffer), batch._pos, batch._num_records


def set_partition_records(consumer, partition_records: type) -> bool:
    """Make ``consumer``'s fetcher build its partitions' buffered fetches as ``partition_records``;
    False when the consumer has no fetcher there (then it decodes as before)."""
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None:
        return False
    fetcher.PartitionRecords = partition_records
    return True
