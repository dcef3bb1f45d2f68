"""Set operations between two RDDs: ``subtract``, ``intersection`` and ``cartesian``.

:class:`SetOperations` is a base class of :class:`dstreams.RDD`. ``subtract`` and ``intersection`` compare
whole records, so records must be hashable (they are shuffled by :func:`dstreams.shuffle.portable_hash`);
they are built on ``cogroup``, as in Spark. ``cartesian`` pairs every partition of one RDD with every
partition of the other, without a shuffle.
"""
from __future__ import annotations

import operator

from dask.base import tokenize

from ._compat import Task, TaskRef
from ._util import Records, checked, partitions
from .partitions import _flat_map, _pair_with_none


def _both_sides(kv):
    k, (left, right) = kv
    return [k] if left and right else []


def _cartesian(left, right):
    return Records((a, b) for a in left for b in right)


def _check_rdd(other, what):
    from .rdd import RDD

    if not isinstance(other, RDD):
        raise TypeError(f"{what} must be an RDD, got {type(other).__name__}; make one with ssc.parallelize(...)")
    return other


class SetOperations:
    """Set operations of an :class:`~dstreams.RDD` (a base class of it, not used alone)."""

    @checked(other=_check_rdd, num_partitions=partitions())
    def subtract(self, other, num_partitions=None, name=None):
        """The records of this RDD that are not in ``other``, each occurrence kept (Spark's ``subtract``).

        Examples
        --------
        >>> a = RDD.from_list([1, 2, 2, 3, 4], 2)
        >>> sorted(a.subtract(RDD.from_list([2, 4], 1)).collect())
        [1, 3]
        >>> sorted(a.subtract(RDD.from_list([4], 1)).collect())
        [1, 2, 2, 3]
        """
        left, right = self.map(_pair_with_none), other.map(_pair_with_none)
        return left.subtract_by_key(right, num_partitions, name=name and name + "-by-key").map(
            operator.itemgetter(0), name=name)

    @checked(other=_check_rdd, num_partitions=partitions())
    def intersection(self, other, num_partitions=None, name=None):
        """The distinct records found in both RDDs (Spark's ``intersection``; no duplicates in the result).

        Examples
        --------
        >>> a = RDD.from_list([1, 2, 2, 3], 2)
        >>> sorted(a.intersection(RDD.from_list([2, 3, 3, 5], 2)).collect())
        [2, 3]
        """
        grouped = self.map(_pair_with_none).cogroup(other.map(_pair_with_none), num_partitions=num_partitions,
                                                    name=name and name + "-cogroup")
        return grouped._per_partition("intersection", _flat_map, _both_sides, name=name)

    @checked(other=_check_rdd)
    def cartesian(self, other, name=None):
        """Every pair ``(a, b)`` of a record of this RDD and one of ``other`` (Spark's ``cartesian``).

        Partition ``i * other.npartitions + j`` pairs partition ``i`` of this RDD with partition ``j`` of
        ``other``, so the result has the product of both partition counts.

        Examples
        --------
        >>> RDD.from_list([1, 2], 2).cartesian(RDD.from_list(["x", "y"], 1)).collect()
        [(1, 'x'), (1, 'y'), (2, 'x'), (2, 'y')]
        """
        name = name or f"cartesian-{tokenize(self.name, other.name)}"
        n = other.npartitions
        layer = {(name, i * n + j): Task((name, i * n + j), _cartesian, TaskRef((self.name, i)),
                                         TaskRef((other.name, j)))
                 for i in range(self.npartitions) for j in range(n)}
        return self._new(name, layer, [self, other], npartitions=self.npartitions * n)
