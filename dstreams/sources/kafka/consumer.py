"""Worker-side reading of one offset range, through a per-process consumer cache.

:func:`read_range` returns exactly the records of ``[from_offset, until_offset)``
of one partition. It borrows a kafka-python ``KafkaConsumer`` from a cache kept
per worker process and keyed by ``(group_id, topic, partition, params
fingerprint)``: the consumer is created on the first batch that reads the
partition and reused by later batches (assign once, ``seek`` per batch, never
subscribe), because creating and closing a consumer per batch dominates the
cost of small batches (streamz issue #240).

A consumer is used by one thread at a time. If the cached one is busy (two
tasks of one worker reading the same partition at once), a temporary consumer
is created for the second task and closed after it.

The reading consumer never joins a group and never commits (``group_id`` is
only part of the cache key; the driver commits, see
:meth:`~dstreams.sources.kafka.metadata.KafkaMetadata.commit`). It has
``auto_offset_reset='none'`` so that a range whose records were deleted fails
loudly instead of silently reading other offsets, and no deserializers: the
user's deserializers are applied here, per record, so that a failure can name
the record's offset. Its fetcher decodes v2 record batches with dstreams' own
decoder (:mod:`dstreams.sources.kafka.decoder`), about 5 times as fast as
kafka-python's with its compiled loop (2.5 times in its Python form).
"""

from __future__ import annotations

import gc
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import kafka.errors as kerrors
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from ..._util import Records
from . import decoder
from .clients import KafkaUnavailableError, consumer_config, open_consumer, unavailable
from .deserialization import RecordDeserializationError, Reporting, as_deserializer, deserialize_range
from .offsets import KafkaSourceError, OffsetRange, OffsetsBeyondLogEndError, OffsetsDeletedError

__all__ = [
    "DEFAULT_POLL_TIMEOUT_MS",
    "RecordDeserializationError",
    "borrow_consumer",
    "close_all",
    "consumer_cache_stats",
    "read_range",
]

DEFAULT_POLL_TIMEOUT_MS = 30_000
"""How long :func:`read_range` waits for the next record before failing."""

_POLL_SLICE_MS = 100  # one poll() call; the position is checked between calls
_LOOKUP_TIMEOUT_MS = 5_000  # offset lookups made to explain an error


# --------------------------------------------------------------------------- cache


def params_fingerprint(config: Mapping[str, Any]) -> str:
    """A hash of consumer params, stable across processes and pickling.

    Plain values count by value, classes and functions by qualified name, other
    objects (an SSL context, a token provider) by their type only.
    """

    def canon(value: Any) -> str:
        if value is None or isinstance(value, (str, bytes, int, float, bool)):
            return repr(value)
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [canon(v) for v in value]
            return "[" + ",".join(sorted(items) if isinstance(value, (set, frozenset)) else items) + "]"
        if isinstance(value, Mapping):
            return "{" + ",".join(f"{canon(k)}:{canon(v)}" for k, v in sorted(value.items(), key=str)) + "}"
        if isinstance(value, type) or callable(value) and hasattr(value, "__qualname__"):
            return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
        return f"<{type(value).__module__}.{type(value).__qualname__}>"

    text = canon({k: v for k, v in config.items()})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(eq=False)
class _Entry:
    consumer: KafkaConsumer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    evicted: bool = False


class ConsumerCache:
    """Cached consumers of one process; see :func:`borrow_consumer`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple, _Entry] = {}
        self._stats = {"created": 0, "temporary": 0, "closed": 0}

    def _count(self, what: str) -> None:
        with self._lock:
            self._stats[what] += 1

    def _open(self, config: dict, tp: TopicPartition, timeout_ms: int) -> KafkaConsumer:
        consumer = open_consumer(config, timeout_ms=timeout_ms, purpose=f"reading {tp.topic}-{tp.partition}")
        decoder.install(consumer)
        consumer.assign([tp])
        return consumer

    def _close(self, consumer: KafkaConsumer | None) -> None:
        if consumer is not None:
            self._count("closed")
            consumer.close(autocommit=False, timeout_ms=_LOOKUP_TIMEOUT_MS)

    @contextmanager
    def borrow(self, key: tuple, config: dict, tp: TopicPartition, timeout_ms: int) -> Iterator[KafkaConsumer]:
        while True:
            with self._lock:
                entry = self._entries.setdefault(key, _Entry())
            if not entry.lock.acquire(blocking=False):
                # The cached consumer is in use by another thread: read with a temporary one.
                consumer = self._open(config, tp, timeout_ms)
                self._count("temporary")
                try:
                    yield consumer
                finally:
                    self._close(consumer)
                return
            if not entry.evicted:
                break
            entry.lock.release()  # close_all() retired this entry meanwhile: look again
        try:
            if entry.consumer is None:
                entry.consumer = self._open(config, tp, timeout_ms)
                self._count("created")
            try:
                yield entry.consumer
            except KafkaSourceError:
                raise  # a bad range or record: the consumer itself is fine
            except BaseException:
                entry.evicted = True  # unknown state: start afresh next time
                raise
        finally:
            if entry.evicted:
                with self._lock:
                    if self._entries.get(key) is entry:
                        del self._entries[key]
                consumer, entry.consumer = entry.consumer, None
                try:
                    self._close(consumer)
                finally:
                    entry.lock.release()
            else:
                entry.lock.release()

    def stats(self) -> dict[str, int]:
        with self._lock:
            cached = sum(1 for e in self._entries.values() if e.consumer is not None)
            return {**self._stats, "cached": cached}

    def close_all(self) -> None:
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        for entry in entries:
            entry.evicted = True  # a borrower holding it closes it when done
            if entry.lock.acquire(blocking=False):
                try:
                    consumer, entry.consumer = entry.consumer, None
                    self._close(consumer)
                finally:
                    entry.lock.release()

    def forget(self) -> None:
        """Drop every entry without closing (in a forked child: the IO threads are gone)."""
        self._lock = threading.Lock()
        self._entries = {}


_CACHE = ConsumerCache()  # outside a worker (a read called directly), or before the plugin is set up
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_CACHE.forget)


def _cache(dask_worker=None) -> ConsumerCache:
    """The cache of the worker running this task (held by its KafkaClientsPlugin), else this process's."""
    from ...plugins import worker_plugin

    plugin = worker_plugin(dask_worker)
    return plugin.consumers if plugin is not None else _CACHE


def _reader_config(kafka_params: Mapping[str, Any]) -> tuple[dict, str | None, Callable | None, Callable | None]:
    config = consumer_config(kafka_params)
    key_deserializer = as_deserializer("key", config.pop("key_deserializer", None))
    value_deserializer = as_deserializer("value", config.pop("value_deserializer", None))
    group_id = config.pop("group_id", None)
    config.pop("group_instance_id", None)
    config["auto_offset_reset"] = "none"
    return config, group_id, key_deserializer, value_deserializer


@contextmanager
def borrow_consumer(
    kafka_params: Mapping[str, Any],
    topic_partition: TopicPartition,
    timeout_ms: int = DEFAULT_POLL_TIMEOUT_MS,
) -> Iterator[KafkaConsumer]:
    """Borrow this process's cached reading consumer of one partition.

    The consumer is assigned ``topic_partition`` only, has auto-commit off, no
    group, no deserializers and ``auto_offset_reset='none'``. It is yours
    until the ``with`` block ends; another thread borrowing the same
    partition meanwhile gets a temporary consumer. If the block raises
    anything but a :class:`KafkaSourceError`, the consumer is closed and the
    next borrower gets a new one.

    Parameters
    ----------
    kafka_params : Mapping
        The user's kafka-python consumer settings (copied, not changed).
    topic_partition : TopicPartition
        The partition to read.
    timeout_ms : int, optional
        Deadline for connecting, unless ``kafka_params`` sets ``bootstrap_timeout_ms``.

    Examples
    --------
    >>> with borrow_consumer(params, TopicPartition("words", 0)) as consumer:  # doctest: +SKIP
    ...     consumer.seek(TopicPartition("words", 0), 0)
    """
    config, group_id, _, _ = _reader_config(kafka_params)
    tp = TopicPartition(*topic_partition)
    key = (group_id, tp.topic, tp.partition, params_fingerprint(config))
    with _cache().borrow(key, config, tp, timeout_ms) as consumer:
        yield consumer


def consumer_cache_stats(dask_worker=None) -> dict[str, int]:
    """Counters of this worker's consumer cache (``client.run(consumer_cache_stats)``), or this process's.

    Returns
    -------
    dict
        ``created``: cached consumers created; ``temporary``: extra consumers
        created because the cached one was busy; ``closed``: consumers closed;
        ``cached``: consumers currently cached.
    """
    return _cache(dask_worker).stats()


def close_all() -> None:
    """Close every consumer cached outside a worker's plugin (in this process).

    Consumers in use are closed as soon as their borrower is done.
    """
    _CACHE.close_all()


# --------------------------------------------------------------------------- reading

_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_resume = False
#: the environment variable (on the workers) that turns the collector pause on: "1" on, "0" off (default)
GC_PAUSE_ENV = "DSTREAMS_KAFKA_GC_PAUSE"


def gc_pause_wanted() -> bool:
    """Whether ``DSTREAMS_KAFKA_GC_PAUSE=1`` asks to pause the collector while records are decoded."""
    value = os.environ.get(GC_PAUSE_ENV, "0")
    if value not in ("0", "1"):
        raise ValueError(f"{GC_PAUSE_ENV}={value!r} on this worker: use 1 (pause the garbage collector while "
                         "Kafka records are decoded) or 0 (do not, the default)")
    return value == "1"


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while records are decoded, when ``DSTREAMS_KAFKA_GC_PAUSE=1``.

    A read allocates a few objects per record and keeps them all: each collection then walks every
    record read so far, although ConsumerRecords hold no reference cycles. The pause is process-wide
    (CPython has one collector), so other tasks running on the worker meanwhile see no cyclic
    collection either: it is off unless asked for. When on, the collector resumes when the last
    concurrent read of this process ends (if it was on before the first began); it is paused for one
    ``poll`` at a time, so a read waiting for records that are slow to come does not hold it off.
    """
    global _gc_pausers, _gc_resume
    if not gc_pause_wanted():
        yield
        return
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_resume:
                gc.enable()


def read_range(
    kafka_params: Mapping[str, Any],
    offset_range: OffsetRange,
    poll_timeout_ms: int = DEFAULT_POLL_TIMEOUT_MS,
    on_deserialization_error: Any = "fail",
    reporting: Reporting | None = None,
) -> list[ConsumerRecord]:
    """Read exactly the records of ``[from_offset, until_offset)`` of one partition.

    Offsets without a record (compacted away, transaction markers, aborted
    records under ``isolation_level='read_committed'``) are skipped: reading
    stops when the consumer's position reaches ``until_offset``, so a range
    ending on a transaction marker returns at once. Records past
    ``until_offset`` in a fetched batch are dropped. An empty range returns
    ``[]`` without contacting the brokers.

    Parameters
    ----------
    kafka_params : Mapping
        The user's kafka-python consumer settings (copied, not changed).
        ``key_deserializer`` / ``value_deserializer`` may be callables
        ``f(bytes) -> object`` or ``kafka.serializer.Deserializer`` objects.
    offset_range : OffsetRange
        What to read.
    poll_timeout_ms : int, optional
        How long to wait for the next record before giving up (also the
        connect deadline for a new consumer).
    on_deserialization_error : "fail", "skip" or DeadLetter, optional
        What to do with a record a deserializer fails on (see :mod:`.deserialization`).
    reporting : Reporting, optional
        Where to report the records left out (the driver counts them in the batch info).

    Returns
    -------
    list of kafka.consumer.fetcher.ConsumerRecord
        In offset order, keys and values deserialized.

    Raises
    ------
    OffsetsDeletedError
        If part of the range was deleted by retention (names the earliest
        offset still available).
    OffsetsBeyondLogEndError
        If the records up to ``until_offset`` did not arrive within
        ``poll_timeout_ms`` (names the log end).
    RecordDeserializationError
        If a deserializer raised (names the record's offset), unless ``on_deserialization_error`` says
        to skip or dead-letter such records.
    KafkaUnavailableError
        If the brokers could not be reached.
    KafkaParamsError
        If ``kafka_params`` are invalid.

    Examples
    --------
    >>> read_range(params, OffsetRange("words", 0, 10, 12))  # doctest: +SKIP
    [ConsumerRecord(topic='words', partition=0, offset=10, ...), ConsumerRecord(..., offset=11, ...)]
    """
    if not isinstance(offset_range, OffsetRange):
        raise TypeError(f"read_range expects an OffsetRange, got {offset_range!r}")
    config, group_id, key_deserializer, value_deserializer = _reader_config(kafka_params)
    if offset_range.count() == 0:
        return Records()
    tp = offset_range.topic_partition
    key = (group_id, tp.topic, tp.partition, params_fingerprint(config))
    with _cache().borrow(key, config, tp, poll_timeout_ms) as consumer:
        records = _read(consumer, config, offset_range, poll_timeout_ms)
    if key_deserializer is None and value_deserializer is None:
        return records
    return Records(deserialize_range(records, key_deserializer, value_deserializer, offset_range,
                                     on_deserialization_error, kafka_params, reporting))


def _read(consumer: KafkaConsumer, config: dict, r: OffsetRange, poll_timeout_ms: int) -> list[ConsumerRecord]:
    tp = r.topic_partition
    consumer.seek(tp, r.from_offset)
    out: list[ConsumerRecord] = Records()
    position = r.from_offset
    progress_at = time.monotonic()
    while position < r.until_offset:
        waited_ms = (time.monotonic() - progress_at) * 1000
        if waited_ms >= poll_timeout_ms:
            raise OffsetsBeyondLogEndError(r, _lookup(consumer, config, tp, "end"), waited_ms / 1000)
        try:
            with _gc_paused():  # decoding: not while waiting (a poll waits at most _POLL_SLICE_MS)
                fetched = consumer.poll(
                    timeout_ms=min(_POLL_SLICE_MS, poll_timeout_ms - waited_ms),
                    max_records=r.until_offset - position,
                )
        except kerrors.OffsetOutOfRangeError as exc:
            earliest = _lookup(consumer, config, tp, "beginning")
            if earliest is not None and consumer.position(tp) < earliest:
                raise OffsetsDeletedError(r, earliest) from exc
            raise OffsetsBeyondLogEndError(r, _lookup(consumer, config, tp, "end"), 0.0) from exc
        out.extend(rec for rec in fetched.get(tp, ()) if r.from_offset <= rec.offset < r.until_offset)
        now_at = consumer.position(tp)
        if now_at != position:
            position, progress_at = now_at, time.monotonic()
    return out


def _lookup(consumer: KafkaConsumer, config: dict, tp: TopicPartition, which: str) -> int | None:
    """The beginning or end offset of ``tp``, to explain an error."""
    fn = consumer.beginning_offsets if which == "beginning" else consumer.end_offsets
    try:
        return fn([tp], timeout_ms=_LOOKUP_TIMEOUT_MS)[tp]
    except (kerrors.RetriableError, OSError) as exc:
        doing = f"looking up the {which} offset of {tp.topic}-{tp.partition}"
        raise KafkaUnavailableError(unavailable(config, doing, _LOOKUP_TIMEOUT_MS)) from exc
