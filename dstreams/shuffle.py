"""Hash partitioning and the task-based shuffle behind the pair operations.

A shuffle of an RDD with ``m`` partitions into ``n`` is ``m`` split tasks (each cuts its partition into
``n`` buckets) and ``n`` gather tasks (each concatenates its bucket from every split), as Spark's
hash shuffle does, but with plain Dask tasks so it runs on any cluster.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import numbers
import uuid
import zlib
from dataclasses import dataclass

from ._util import Records, in_task

_MASK = 0xFFFFFFFFFFFF


def _text_hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


def _combine(h: int, item_hash: int) -> int:
    return ((h ^ item_hash) * 1000003) & _MASK


def _fields_hash(kind: str, values) -> int:
    h = _text_hash(kind)
    for v in values:
        h = _combine(h, portable_hash(v))
    return h


def _qualname(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def portable_hash(x) -> int:
    """A hash of ``x`` that is the same in every process, and equal for keys that compare equal.

    Python's ``hash`` of a ``str``, ``bytes``, ``datetime`` or ``Enum`` (and of anything built from them,
    such as a frozen dataclass) changes with ``PYTHONHASHSEED``, so two worker processes would send one
    key to two partitions. This hash partitioner uses: CRC-32 for text and bytes; Python's numeric hash
    (which no seed changes) for numbers, so ``1``, ``1.0`` and ``True`` agree as they compare equal; the
    fields of tuples, frozensets, dates and times, enums, UUIDs and dataclasses; and for any other type
    the token ``dask.base.tokenize`` gives it (define ``__dask_tokenize__`` on a class whose equal
    instances may pickle differently). A type with neither is refused with a ``TypeError``.
    """
    kind = type(x)
    if kind is str:
        return _text_hash(x)
    if kind is int or kind is float or x is None or kind is bool:
        return 0 if x is None else hash(x)
    if isinstance(x, tuple):
        h = 0x345678
        for item in x:  # _combine inlined: tuple keys are common
            h = ((h ^ portable_hash(item)) * 1000003) & _MASK
        return h ^ len(x)
    if isinstance(x, str):  # str subclasses, StrEnum: equal to their text
        return _text_hash(str(x))
    if isinstance(x, (bytes, bytearray, memoryview)):
        return zlib.crc32(x)
    if isinstance(x, numbers.Number):  # int and float subclasses (IntEnum, bool), Decimal, Fraction, complex
        return hash(x)
    return _structured_hash(x)


def _structured_hash(x) -> int:
    if isinstance(x, frozenset):
        h = 0
        for item in x:
            h ^= portable_hash(item)
        return h
    if isinstance(x, _dt.datetime):  # equal when they mean the same instant, naive ones by their fields
        offset = x.utcoffset()
        if offset is not None:
            x = (x - offset).replace(tzinfo=None)
            return _fields_hash("datetime-utc", (x.toordinal(), x.hour, x.minute, x.second, x.microsecond))
        return _fields_hash("datetime", (x.toordinal(), x.hour, x.minute, x.second, x.microsecond))
    if isinstance(x, _dt.date):
        return _fields_hash("date", (x.toordinal(),))
    if isinstance(x, _dt.timedelta):
        return hash(x // _dt.timedelta(microseconds=1))
    if isinstance(x, _dt.time):
        if x.utcoffset() is not None:
            return _fields_hash("time-utc", (x.hour * 60 + x.minute - x.utcoffset() // _dt.timedelta(minutes=1),
                                             x.second, x.microsecond))
        return _fields_hash("time", (x.hour, x.minute, x.second, x.microsecond))
    if isinstance(x, enum.Enum):
        return _fields_hash(_qualname(type(x)), (x.name,))
    if isinstance(x, uuid.UUID):
        return hash(x.int)
    if dataclasses.is_dataclass(x) and x.__dataclass_params__.eq:
        return _fields_hash(_qualname(type(x)), [getattr(x, f.name) for f in dataclasses.fields(x) if f.compare])
    return _token_hash(x)


def _token_hash(x) -> int:
    import dask
    from dask.base import tokenize

    if type(x).__hash__ is None:
        raise TypeError(f"unhashable key {x!r} of type {type(x).__name__}: a pair operation needs hashable keys, "
                        "such as str, int, tuples or frozen dataclasses")
    try:
        with dask.config.set({"tokenize.ensure-deterministic": True}):
            token = tokenize(x)
    except Exception as e:
        raise TypeError(
            f"keys of type {_qualname(type(x))} cannot be hash-partitioned the same way in every process: "
            f"{type(e).__name__}: {e}. Use keys of str, int, float, bytes, tuples of these, datetimes, "
            "enums or dataclasses, or give the class a __dask_tokenize__ method returning its identity"
        ) from e
    return int(token[:12], 16)


@dataclass(frozen=True)
class HashPartitioner:
    """Send a key to partition ``portable_hash(key) % num_partitions`` (Spark's ``HashPartitioner``)."""

    num_partitions: int

    def __post_init__(self):
        if not isinstance(self.num_partitions, int) or self.num_partitions < 1:
            raise ValueError(f"num_partitions must be a positive integer, got {self.num_partitions!r}")

    def __call__(self, key) -> int:
        return portable_hash(key) % self.num_partitions


def split_by_key(partition, partitioner) -> list[list]:
    """Cut one partition of ``(key, value)`` pairs into one bucket per output partition."""
    buckets: list[list] = [[] for _ in range(partitioner.num_partitions)]
    try:
        for kv in partition:
            buckets[partitioner(kv[0])].append(kv)
    except (TypeError, IndexError) as e:
        raise not_a_pair(kv) from e
    return Records(buckets)


def not_a_pair(record) -> TypeError:
    """The error for a record that a pair operation cannot split into (key, value)."""
    return in_task(TypeError(
        f"a pair operation needs (key, value) records, got {record!r}; map the stream to pairs first, "
        "e.g. .map(lambda x: (x, 1))"
    ))


def split_round_robin(partition, index: int, n: int) -> list[list]:
    """Cut one partition into ``n`` buckets of near-equal size (for ``repartition``)."""
    buckets: list[list] = [[] for _ in range(n)]
    for j, x in enumerate(partition):
        buckets[(j + index) % n].append(x)
    return Records(buckets)


def gather_bucket(j: int, splits) -> list:
    """Concatenate bucket ``j`` of every split: the input of output partition ``j``."""
    out = Records()
    for buckets in splits:
        out.extend(buckets[j])
    return out
