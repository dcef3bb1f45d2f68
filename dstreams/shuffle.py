"""Hash partitioning and the task-based shuffle behind the pair operations.

A shuffle of an RDD with ``m`` partitions into ``n`` is ``m`` split tasks (each cuts its partition into
``n`` buckets) and ``n`` gather tasks (each concatenates its bucket from every split), as Spark's
hash shuffle does, but with plain Dask tasks so it runs on any cluster.
"""
from __future__ import annotations

from dataclasses import dataclass

from ._util import Records, portable_hash


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
    return TypeError(
        f"a pair operation needs (key, value) records, got {record!r}; map the stream to pairs first, "
        "e.g. .map(lambda x: (x, 1))"
    )


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
