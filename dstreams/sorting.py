"""Order and position of records: ``sort_by``, ``sort_by_key``, ``top``, ``take_ordered``, ``zip_with_index``.

:class:`Sorting` is a base class of :class:`dstreams.RDD`. Sorting is Spark's range partitioning, built
lazily in the batch's graph instead of by a sampling job first: each partition is sorted where it is, a
few evenly spaced keys of each (weighted by its size) give the bounds of the output partitions, each
sorted partition is cut at those bounds, and each output partition merges its pieces. So partition
``i`` holds keys before those of partition ``i + 1``, and ``collect()`` returns the records in order.
"""
from __future__ import annotations

import bisect
import functools
import heapq
import math

from . import shuffle as _shuffle
from ._compat import List, Task, TaskRef
from ._util import Records, checked, flag, function, non_negative, partitions
from .partitions import _count_partition

#: keys sampled per output partition to place the bounds (Spark's RangePartitioner takes 20, and 3x that
#: per input partition to even out skew)
SAMPLES_PER_PARTITION = 60

_record_key = function(("record",), optional=True)


def _key_of_pair(key_func, kv):
    try:
        k = kv[0]
    except (TypeError, IndexError, KeyError) as e:
        raise _shuffle.not_a_pair(kv) from e
    return k if key_func is None else key_func(k)


def _sort_partition(key, reverse, part):
    return Records(sorted(part, key=key, reverse=reverse))


def _sample_keys(key, count, part):
    """``(number of records, up to count evenly spaced keys)`` of a sorted partition."""
    n = len(part)
    if n <= count:
        picks = range(n)
    else:
        picks = ((2 * j + 1) * n // (2 * count) for j in range(count))
    return n, [key(part[i]) for i in picks]


def _range_bounds(num_partitions, samples):
    """``num_partitions - 1`` keys (or fewer) cutting the weighted samples into near-equal ranges
    (Spark's ``RangePartitioner.determineBounds``), in ascending order."""
    weighted = []
    for n, keys in samples:
        weighted.extend((k, n / len(keys)) for k in keys)
    if not weighted:
        return []
    weighted.sort(key=lambda kw: kw[0])
    step = sum(w for _, w in weighted) / num_partitions
    bounds, cumulative, target = [], 0.0, step
    for k, w in weighted:
        cumulative += w
        if cumulative >= target and len(bounds) < num_partitions - 1 and (not bounds or bounds[-1] < k):
            bounds.append(k)  # a key equal to the previous bound is skipped: the next larger one is taken
            target += step
    return bounds


def _split_by_range(key, reverse, num_partitions, bounds, part):
    """Cut a sorted partition into one bucket per output partition; each bucket stays sorted."""
    buckets = [[] for _ in range(num_partitions)]
    for x in part:
        p = bisect.bisect_left(bounds, key(x))
        buckets[num_partitions - 1 - p if reverse else p].append(x)
    return Records(buckets)


def _merge_sorted(key, reverse, j, splits):
    # Python's sort finds the runs (each split's piece is sorted): about one pass over the records
    return Records(sorted((x for buckets in splits for x in buckets[j]), key=key, reverse=reverse))


def _largest(num, key, part):
    return Records(heapq.nlargest(num, part, key=key))


def _smallest(num, key, part):
    return Records(heapq.nsmallest(num, part, key=key))


def _merge_largest(num, key, parts):
    return Records(heapq.nlargest(num, (x for p in parts for x in p), key=key))


def _merge_smallest(num, key, parts):
    return Records(heapq.nsmallest(num, (x for p in parts for x in p), key=key))


def _offsets(counts):
    """The index of the first record of each partition, from their counts (``[len]`` each)."""
    out, total = [], 0
    for (n,) in counts:
        out.append(total)
        total += n
    return out


def _zip_partition(offsets, i, part):
    return Records(zip(part, range(offsets[i], offsets[i] + len(part)), strict=True))


class Sorting:
    """Sorting and positions of an :class:`~dstreams.RDD`'s records (a base class of it, not used alone)."""

    @checked(key_func=function(("record",)), ascending=flag, num_partitions=partitions())
    def sort_by(self, key_func, ascending: bool = True, num_partitions=None, name=None):
        """The records sorted by ``key_func(record)`` (Spark's ``sortBy``), in ``num_partitions`` partitions.

        Partition ``i`` holds keys before those of partition ``i + 1``; records with equal keys keep their
        order within a partition. ``num_partitions`` defaults to the input's.

        Examples
        --------
        >>> RDD.from_list(["bb", "a", "ccc"], 2).sort_by(len, ascending=False).collect()
        ['ccc', 'bb', 'a']
        """
        return self._sort(key_func, ascending, num_partitions, name)

    @checked(ascending=flag, num_partitions=partitions(), key_func=function(("key",), optional=True))
    def sort_by_key(self, ascending: bool = True, num_partitions=None, key_func=None, name=None):
        """``(key, value)`` records sorted by key, or by ``key_func(key)`` (Spark's ``sortByKey``).

        Examples
        --------
        >>> pairs = RDD.from_list([("b", 1), ("c", 2), ("a", 3)], 2)
        >>> pairs.sort_by_key().collect()
        [('a', 3), ('b', 1), ('c', 2)]
        >>> pairs.sort_by_key(ascending=False, num_partitions=1).collect()
        [('c', 2), ('b', 1), ('a', 3)]
        """
        return self._sort(functools.partial(_key_of_pair, key_func), ascending, num_partitions, name)

    def _sort(self, key, ascending, num_partitions, name):
        n_out = num_partitions or max(1, self.npartitions)
        reverse = not ascending
        name = self._name("sort", name, key, ascending, n_out)
        if n_out == 1:  # one output partition: no bounds to find
            return self.coalesce(1, name=f"{name}-all")._per_partition("sort", _sort_partition, key, reverse,
                                                                        name=name)
        ordered = self._per_partition("sort-local", _sort_partition, key, reverse, name=f"{name}-local")
        per_input = math.ceil(SAMPLES_PER_PARTITION * n_out / max(1, self.npartitions))
        sample, bounds, split = f"{name}-sample", f"{name}-bounds", f"{name}-split"
        layer = {}
        for i in range(self.npartitions):
            layer[(sample, i)] = Task((sample, i), _sample_keys, key, per_input, TaskRef((ordered.name, i)))
        layer[(bounds, 0)] = Task((bounds, 0), _range_bounds, n_out,
                                  List(*[TaskRef((sample, i)) for i in range(self.npartitions)]))
        for i in range(self.npartitions):
            layer[(split, i)] = Task((split, i), _split_by_range, key, reverse, n_out, TaskRef((bounds, 0)),
                                     TaskRef((ordered.name, i)))
        refs = List(*[TaskRef((split, i)) for i in range(self.npartitions)])
        for j in range(n_out):
            layer[(name, j)] = Task((name, j), _merge_sorted, key, reverse, j, refs)
        return ordered._new(name, layer, [ordered], n_out)

    @checked(num=non_negative, key=_record_key)
    def top(self, num: int, key=None) -> list:
        """The ``num`` largest records (by ``key(record)`` when given), largest first (Spark's ``top``).

        Examples
        --------
        >>> RDD.from_list([4, 1, 5, 3], 2).top(2)
        [5, 4]
        >>> RDD.from_list(["bb", "a", "ccc"], 2).top(1, key=len)
        ['ccc']
        """
        return self._to_one("top", functools.partial(_largest, num, key),
                            functools.partial(_merge_largest, num, key)).compute()

    @checked(num=non_negative, key=_record_key)
    def take_ordered(self, num: int, key=None) -> list:
        """The ``num`` smallest records (by ``key(record)`` when given), smallest first (Spark's ``takeOrdered``).

        Examples
        --------
        >>> RDD.from_list([4, 1, 5, 3], 2).take_ordered(3)
        [1, 3, 4]
        >>> RDD.from_list([4, 1, 5, 3], 2).take_ordered(2, key=lambda x: -x)
        [5, 4]
        """
        return self._to_one("take-ordered", functools.partial(_smallest, num, key),
                            functools.partial(_merge_smallest, num, key)).compute()

    def zip_with_index(self, name=None):
        """Each record paired with its position: ``(record, index)`` (Spark's ``zipWithIndex``).

        Positions count partition by partition: the first record of the first partition gets 0, the last of
        the last partition the largest. Built in the batch's graph (Spark runs a job first to count the
        partitions): a count per partition, then the offsets, then the pairs.

        Examples
        --------
        >>> RDD.from_list(["a", "b", "c"], 2).zip_with_index().collect()
        [('a', 0), ('b', 1), ('c', 2)]
        """
        name = self._name("zip-with-index", name)
        counts, offsets = f"{name}-count", f"{name}-offsets"
        layer = {(counts, i): Task((counts, i), _count_partition, TaskRef((self.name, i)))
                 for i in range(self.npartitions)}
        layer[(offsets, 0)] = Task((offsets, 0), _offsets,
                                   List(*[TaskRef((counts, i)) for i in range(self.npartitions)]))
        for i in range(self.npartitions):
            layer[(name, i)] = Task((name, i), _zip_partition, TaskRef((offsets, 0)), i, TaskRef((self.name, i)))
        return self._new(name, layer, [self])
