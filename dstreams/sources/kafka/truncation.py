"""Partitions whose log lost the stream's place: a log that restarts below the next offset to read, a
partition gone from a topic that still exists.

The direct stream compares, at every batch, the offset it reads next in each partition with the
brokers' log end (:func:`find_truncations`). A log end below that offset means the records the stream
was about to read are gone and any new ones got offsets it has already passed: the topic was deleted
and recreated, a broker lost its data, or an unclean leader election cut the log. As Spark does, the
batch then fails (:class:`OffsetsTruncatedError`) unless the stream was created with
``on_truncation="reset"``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kafka import TopicPartition

from .offsets import KafkaSourceError

__all__ = ["OffsetsTruncatedError", "Truncation", "find_truncations"]

TRUNCATION_POLICIES = ("fail", "reset")


@dataclass(frozen=True)
class Truncation:
    """One partition that lost the stream's place.

    Attributes
    ----------
    topic, partition : str, int
        The partition.
    expected : int
        The offset the stream was to read next.
    found : int or None
        The partition's log end offset now, ``None`` when the partition no longer exists.
    """

    topic: str
    partition: int
    expected: int
    found: int | None

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

    def describe(self) -> str:
        if self.found is None:
            return (f"{self.topic}-{self.partition} was to be read from offset {self.expected}, but topic "
                    f"{self.topic!r} has no partition {self.partition} any more")
        return (f"{self.topic}-{self.partition} was to be read from offset {self.expected}, but its log now "
                f"ends at offset {self.found}")


def find_truncations(current: Mapping[TopicPartition, int], latest: Mapping[TopicPartition, int],
                     present_topics: Iterable[str]) -> list[Truncation]:
    """The partitions of ``current`` whose log end in ``latest`` is below the offset to read, and those
    missing from ``latest`` although their topic is among ``present_topics`` (a topic missing as a
    whole is skipped until it comes back, not a truncation).

    Examples
    --------
    >>> tp = TopicPartition
    >>> found = find_truncations({tp("t", 0): 4, tp("t", 1): 2, tp("gone", 0): 9}, {tp("t", 0): 1}, ["t"])
    >>> [(t.partition, t.expected, t.found) for t in found]
    [(0, 4, 1), (1, 2, None)]
    """
    present = set(present_topics)
    out = []
    for tp, expected in sorted(current.items()):
        if tp in latest:
            if latest[tp] < expected:
                out.append(Truncation(tp.topic, tp.partition, expected, latest[tp]))
        elif tp.topic in present:
            out.append(Truncation(tp.topic, tp.partition, expected, None))
    return out


class OffsetsTruncatedError(KafkaSourceError):
    """The logs of some partitions no longer reach the offsets the stream reads next.

    Attributes
    ----------
    truncations : list of Truncation
        Each partition, with the offset expected and the log end found.
    """

    def __init__(self, stream_name: str, truncations: list[Truncation]):
        self.truncations = list(truncations)
        super().__init__(
            f"Kafka stream '{stream_name}' lost its place in {len(self.truncations)} partition(s): "
            + "; ".join(t.describe() for t in self.truncations)
            + ". The topic was deleted and recreated, a broker lost its data, or an unclean leader election "
            "truncated the log: records may have been lost, and new records got offsets the stream has "
            "already passed. To go on, create the stream with create_direct_stream(..., "
            "on_truncation='reset'): such partitions are then read again from their log start (partitions "
            "that are gone are dropped), with a warning, and the reset is recorded in the batch's "
            "BatchInfo.input_info metadata under 'offset_resets'."
        )
