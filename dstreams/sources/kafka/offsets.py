"""Offset ranges: which records of one Kafka partition belong to a batch.

An :class:`OffsetRange` is the unit of work of the Kafka direct stream: the
driver decides one range per partition and batch, a worker reads exactly that
range, and checkpoints record the ranges of every pending batch (as plain JSON,
see :meth:`OffsetRange.to_json`).

This module also holds the errors raised when a range cannot be read, so that
the driver side and the worker side share them without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition

from ...errors import KafkaSourceError

__all__ = [
    "KafkaSourceError",
    "OffsetRange",
    "OffsetsBeyondLogEndError",
    "OffsetsDeletedError",
    "OffsetsUnavailableError",
]

_JSON_KEYS = ("topic", "partition", "from_offset", "until_offset")


def _check_int(name: str, value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} of {where} must be an int, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} of {where} must be >= 0, got {value}")


@dataclass(frozen=True, slots=True)
class OffsetRange:
    """The offsets ``[from_offset, until_offset)`` of one Kafka topic-partition.

    ``from_offset`` is inclusive, ``until_offset`` exclusive, as in Spark's
    ``OffsetRange``. An empty range (``from_offset == until_offset``) is valid
    and reads no records.

    Parameters
    ----------
    topic : str
        Kafka topic name.
    partition : int
        Partition number, ``>= 0``.
    from_offset : int
        First offset of the range (inclusive), ``>= 0``.
    until_offset : int
        End of the range (exclusive), ``>= from_offset``.

    Raises
    ------
    TypeError
        If a field has the wrong type.
    ValueError
        If a field is negative, the topic is empty, or ``until_offset < from_offset``.

    Examples
    --------
    >>> r = OffsetRange("words", 0, 10, 15)
    >>> r.count()
    5
    >>> r.topic_partition
    TopicPartition(topic='words', partition=0)
    >>> OffsetRange.from_json(r.to_json()) == r
    True
    >>> r
    OffsetRange('words', 0, 10, 15)
    """

    topic: str
    partition: int
    from_offset: int
    until_offset: int

    def __post_init__(self) -> None:
        if not isinstance(self.topic, str) or not self.topic:
            raise ValueError(f"topic of an OffsetRange must be a non-empty str, got {self.topic!r}")
        where = f"OffsetRange for {self.topic!r}"
        _check_int("partition", self.partition, where)
        where = f"OffsetRange for {self.topic}-{self.partition}"
        _check_int("from_offset", self.from_offset, where)
        _check_int("until_offset", self.until_offset, where)
        if self.until_offset < self.from_offset:
            raise ValueError(
                f"until_offset {self.until_offset} of {where} is before from_offset "
                f"{self.from_offset}; ranges are [from_offset, until_offset) with "
                f"until_offset >= from_offset"
            )

    @classmethod
    def of(cls, topic_partition: TopicPartition | tuple[str, int], from_offset: int, until_offset: int):
        """Build a range from a ``TopicPartition`` (or ``(topic, partition)`` tuple).

        Examples
        --------
        >>> OffsetRange.of(TopicPartition("words", 2), 0, 3)
        OffsetRange('words', 2, 0, 3)
        """
        topic, partition = topic_partition
        return cls(topic, partition, from_offset, until_offset)

    def count(self) -> int:
        """Number of offsets in the range (``until_offset - from_offset``).

        This is an upper bound on the number of records: offsets without a
        record (compacted away, transaction markers, aborted records under
        ``read_committed``) are skipped when reading.
        """
        return self.until_offset - self.from_offset

    @property
    def topic_partition(self) -> TopicPartition:
        """The kafka-python ``TopicPartition`` of this range."""
        return TopicPartition(self.topic, self.partition)

    def to_json(self) -> dict[str, Any]:
        """A plain ``dict`` for JSON checkpoints, read back by :meth:`from_json`."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "from_offset": self.from_offset,
            "until_offset": self.until_offset,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OffsetRange:
        """Rebuild a range from the ``dict`` made by :meth:`to_json`.

        Raises
        ------
        ValueError
            If a key is missing or unknown, or a value is invalid.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"OffsetRange.from_json expects a dict, got {type(data).__name__}: {data!r}")
        missing = [k for k in _JSON_KEYS if k not in data]
        unknown = sorted(set(data) - set(_JSON_KEYS))
        if missing or unknown:
            raise ValueError(
                f"cannot read an OffsetRange from {dict(data)!r}: missing keys {missing}, "
                f"unknown keys {unknown}; expected exactly {list(_JSON_KEYS)}"
            )
        return cls(*(data[k] for k in _JSON_KEYS))

    def __repr__(self) -> str:
        return f"OffsetRange({self.topic!r}, {self.partition}, {self.from_offset}, {self.until_offset})"

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition} [{self.from_offset}, {self.until_offset})"


class OffsetsUnavailableError(KafkaSourceError):
    """The records of an offset range cannot be read.

    Attributes
    ----------
    offset_range : OffsetRange
        The range that was asked for.
    """

    def __init__(self, message: str, offset_range: OffsetRange):
        super().__init__(message)
        self.offset_range = offset_range


class OffsetsDeletedError(OffsetsUnavailableError):
    """Part of the range was deleted from the log (retention or ``delete_records``).

    Attributes
    ----------
    earliest_available : int
        The log start offset when the error was detected.
    """

    def __init__(self, offset_range: OffsetRange, earliest_available: int):
        super().__init__(
            f"cannot read {offset_range}: offsets before {earliest_available} of "
            f"{offset_range.topic}-{offset_range.partition} were already deleted (retention or "
            f"delete_records); the earliest available offset is {earliest_available}. The batch's "
            f"data is lost: process batches faster than the topic's retention.ms / retention.bytes, "
            f"or restart the stream from an available offset.",
            offset_range,
        )
        self.earliest_available = earliest_available


class OffsetsBeyondLogEndError(OffsetsUnavailableError):
    """The range ends past the last offset the broker has (or serves).

    Attributes
    ----------
    log_end : int or None
        The log end offset (the last stable offset under ``read_committed``)
        when the error was detected, ``None`` if it could not be fetched.
    """

    def __init__(self, offset_range: OffsetRange, log_end: int | None, waited_s: float):
        super().__init__(
            f"cannot read {offset_range}: the log of {offset_range.topic}-{offset_range.partition} "
            f"ends at offset {log_end if log_end is not None else '(unknown)'} and no records up to "
            f"{offset_range.until_offset} arrived within {waited_s:.1f}s. Was the range computed "
            f"against another cluster, was the topic deleted and recreated, or did a leader "
            f"change truncate the log? Under isolation_level='read_committed' an open "
            f"transaction also holds the readable end back.",
            offset_range,
        )
        self.log_end = log_end
