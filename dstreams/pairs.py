"""Pair operations of an RDD: the records are ``(key, value)`` pairs (Spark's ``PairRDDFunctions``), and
``key_by``, which makes such pairs.

They follow Spark: a hash partitioner (or the one the records already have, then without a shuffle),
a ``num_partitions`` argument, and a map-side combine before the shuffle. :class:`PairOperations` is a
base class of :class:`dstreams.RDD`; the shuffle's tasks are in :mod:`dstreams.shuffle`, the
per-partition functions in :mod:`dstreams.partitions`.
"""
from __future__ import annotations

import functools
import operator

from dask.base import tokenize

from . import shuffle as _shuffle
from ._compat import List, Task, TaskRef
from ._util import checked, function, partitions
from .partitions import (
    _append,
    _as_list,
    _cogroup_parts,
    _combine_locally,
    _extend,
    _flat_map,
    _flat_map_values,
    _identity_value,
    _join_flat,
    _map_values,
    _merge_combiners,
    _one,
    _seq_from_zero,
    _tag,
)
from .shuffle import portable_hash


class PairOperations:
    """The operations of an :class:`~dstreams.RDD` of ``(key, value)`` pairs (a base class of it, not used alone)."""

    # -- shuffling by key ------------------------------------------------------------------
    def _shuffle(self, op, partitioner, name=None):
        """Hash-partition ``(key, value)`` records into ``partitioner.num_partitions`` partitions."""
        name = self._name(op, name, partitioner)
        split = f"{name}-split"
        layer = {}
        for i in range(self.npartitions):
            layer[(split, i)] = Task((split, i), _shuffle.split_by_key, TaskRef((self.name, i)), partitioner)
        refs = List(*[TaskRef((split, i)) for i in range(self.npartitions)])
        for j in range(partitioner.num_partitions):
            layer[(name, j)] = Task((name, j), _shuffle.gather_bucket, j, refs)
        return self._new(name, layer, [self], partitioner.num_partitions, partitioner)

    def _partitioner(self, num_partitions):
        if num_partitions is None:
            if self.partitioner is not None:
                return self.partitioner
            num_partitions = max(1, self.npartitions)  # a batch with no partitions shuffles into one
        return _shuffle.HashPartitioner(num_partitions)

    @checked(num_partitions=partitions(optional=False), partition_func=function(("key",)))
    def partition_by(self, num_partitions: int, partition_func=portable_hash, name=None):
        """Send each ``(key, value)`` record to partition ``partition_func(key) % num_partitions`` (Spark's
        ``partitionBy``); records already partitioned that way are returned as they are.

        With the default :func:`~dstreams.shuffle.portable_hash`, later pair operations with the same number
        of partitions (``reduce_by_key``, ``join``, ...) need no shuffle.

        Examples
        --------
        >>> parted = RDD.from_list([(1, "a"), (2, "b"), (3, "c")], 1).partition_by(2)
        >>> parted.glom().collect()
        [[(2, 'b')], [(1, 'a'), (3, 'c')]]
        """
        if partition_func is portable_hash:
            partitioner = _shuffle.HashPartitioner(num_partitions)
        else:
            partitioner = _CustomPartitioner(num_partitions, partition_func)
        if self.partitioner == partitioner:
            return self
        return self._shuffle("partition-by", partitioner, name=name)

    # -- pair transformations --------------------------------------------------------------
    @checked(f=function(("record",)))
    def key_by(self, f, name=None):
        """Pair every record with a key: ``(f(record), record)`` (Spark's ``keyBy``).

        Examples
        --------
        >>> RDD.from_list(["a", "bb"], 1).key_by(len).collect()
        [(1, 'a'), (2, 'bb')]
        """
        return self.map(functools.partial(_keyed, f), name=name)

    def keys(self, name=None):
        """The key of every ``(key, value)`` record."""
        return self.map(operator.itemgetter(0), name=name)

    def values(self, name=None):
        """The value of every ``(key, value)`` record."""
        return self.map(operator.itemgetter(1), name=name)

    def map_values(self, f, name=None):
        """Apply ``f`` to the value of every pair, keeping keys and partitioning."""
        return self._per_partition("map-values", _map_values, f, name=name, keep_partitioner=True)

    def flat_map_values(self, f, name=None):
        """Apply ``f`` to every value and emit one pair per item it returns."""
        return self._per_partition("flat-map-values", _flat_map_values, f, name=name, keep_partitioner=True)

    def combine_by_key(self, create_combiner, merge_value, merge_combiners, num_partitions=None, name=None):
        """Spark's generic per-key aggregation, combining on the map side before the shuffle."""
        partitioner = self._partitioner(num_partitions)
        name = self._name("combine-by-key", name, create_combiner, merge_value, merge_combiners, partitioner)
        if self.partitioner == partitioner:
            return self._per_partition(
                "combine", _combine_locally, create_combiner, merge_value, name=name, keep_partitioner=True
            )
        local = self._per_partition(
            "combine", _combine_locally, create_combiner, merge_value, name=name + "-combine"
        )
        shuffled = local._shuffle("shuffle", partitioner, name=name + "-shuffle")
        return shuffled._per_partition("merge", _merge_combiners, merge_combiners, name=name, keep_partitioner=True)

    def reduce_by_key(self, f, num_partitions=None, name=None):
        """Merge the values of each key with the associative function ``f``."""
        return self.combine_by_key(_identity_value, f, f, num_partitions, name=name)

    def aggregate_by_key(self, zero_value, seq_func, comb_func, num_partitions=None, name=None):
        """Aggregate the values of each key from a ``zero_value``, as Spark's ``aggregateByKey``."""
        import copy

        create = functools.partial(_seq_from_zero, copy.deepcopy, zero_value, seq_func)
        return self.combine_by_key(create, seq_func, comb_func, num_partitions, name=name)

    def fold_by_key(self, zero_value, f, num_partitions=None, name=None):
        """Merge the values of each key with ``f``, starting from ``zero_value``."""
        return self.aggregate_by_key(zero_value, f, f, num_partitions, name=name)

    def group_by_key(self, num_partitions=None, name=None):
        """Group the values of each key into a list: ``(key, [values])``."""
        return self.combine_by_key(_as_list, _append, _extend, num_partitions, name=name)

    def count_by_key(self) -> dict:
        """Count the records of each key and return the dict to the driver."""
        return dict(self.map_values(_one).reduce_by_key(operator.add).collect())

    def lookup(self, key) -> list:
        """The values of ``key``, as a list on the driver (Spark's ``lookup``).

        When the records are hash-partitioned (after a pair operation or :meth:`partition_by`), only the
        partition that can hold ``key`` is computed.

        Examples
        --------
        >>> RDD.from_list([("a", 1), ("b", 2), ("a", 3)], 2).lookup("a")
        [1, 3]
        """
        values = self.filter(functools.partial(_has_key, key)).values()
        if self.partitioner is None:
            return values.collect()
        return values._select([(values.name, self.partitioner(key))], None).compute()

    @checked(num_partitions=partitions())
    def subtract_by_key(self, other, num_partitions=None, name=None):
        """The ``(key, value)`` records whose key is not a key of ``other`` (Spark's ``subtractByKey``).

        Examples
        --------
        >>> a = RDD.from_list([("a", 1), ("b", 2), ("a", 3)], 2)
        >>> sorted(a.subtract_by_key(RDD.from_list([("b", None)], 1)).collect())
        [('a', 1), ('a', 3)]
        """
        grouped = self.cogroup(other, num_partitions=num_partitions, name=name and name + "-cogroup")
        return grouped._per_partition("subtract-by-key", _flat_map, _only_left, name=name, keep_partitioner=True)

    def cogroup(self, *others, num_partitions=None, name=None):
        """For each key of any input, ``(key, ([values of self], [values of other], ...))``."""
        rdds = (self,) + others
        partitioner = self._partitioner(num_partitions)
        name = name or f"cogroup-{tokenize(*[r.name for r in rdds], partitioner)}"
        # inputs already partitioned this way (e.g. the state of a stateful stream) are not shuffled again
        parts = []
        for i, r in enumerate(rdds):
            tagged = r._per_partition("tag", _tag, i, name=f"{name}-tag{i}", keep_partitioner=True)
            if r.partitioner != partitioner:
                tagged = tagged._shuffle("shuffle", partitioner, name=f"{name}-shuffle{i}")
            parts.append(tagged)
        layer = {
            (name, j): Task((name, j), _cogroup_parts, len(rdds), List(*[TaskRef((t.name, j)) for t in parts]))
            for j in range(partitioner.num_partitions)
        }
        return self._new(name, layer, parts, partitioner.num_partitions, partitioner)

    def join(self, other, num_partitions=None, name=None):
        """Inner join on key: ``(key, (left_value, right_value))`` for every matching pair."""
        return self._join(other, "inner", num_partitions, name)

    def left_outer_join(self, other, num_partitions=None, name=None):
        """Left outer join; a missing right value is ``None``."""
        return self._join(other, "left", num_partitions, name)

    def right_outer_join(self, other, num_partitions=None, name=None):
        """Right outer join; a missing left value is ``None``."""
        return self._join(other, "right", num_partitions, name)

    def full_outer_join(self, other, num_partitions=None, name=None):
        """Full outer join; a missing value on either side is ``None``."""
        return self._join(other, "full", num_partitions, name)

    def _join(self, other, how, num_partitions, name):
        grouped = self.cogroup(other, num_partitions=num_partitions, name=name and name + "-cogroup")
        flat = functools.partial(_join_flat, how)
        return grouped._per_partition("join", _flat_map, flat, name=name, keep_partitioner=True)


def _keyed(f, x):
    return (f(x), x)


def _has_key(key, kv):
    return kv[0] == key


def _only_left(kv):
    k, (left, right) = kv
    return [] if right else [(k, v) for v in left]


class _CustomPartitioner:
    """Partition by ``func(key) % num_partitions``; equal only to itself, so it never skips a shuffle."""

    def __init__(self, num_partitions, func):
        self.num_partitions = _shuffle.HashPartitioner(num_partitions).num_partitions
        self.func = func

    def __call__(self, key):
        return self.func(key) % self.num_partitions
