"""Actions of an RDD: they run its graph on the cluster and give the result to the driver, or write it out.

:class:`Actions` is a base class of :class:`dstreams.RDD` (transformations only build the graph; these
compute it), with Spark's names: ``collect``, ``count``, ``reduce``, ``take``, ``foreach_partition``, ...
"""
from __future__ import annotations

import copy
import functools
import math
import operator

import dask
from dask.base import tokenize

from ._compat import List, Task, TaskRef
from ._util import checked, flag, function, positive, text
from .partitions import (
    _concat,
    _count_partition,
    _fold_partition,
    _foreach,
    _foreach_partition,
    _pair_with_one,
    _reduce_concat,
    _reduce_partition,
    _take,
    _write_pickle,
    _write_text,
)

_reduce_fn = function(("a", "b"))


class Actions:
    """The actions of an :class:`~dstreams.RDD` (a base class of it, not used alone)."""

    def compute(self, **kwargs):
        """Compute the records of every partition and return them as one list."""
        if self.client is not None:
            return list(self.client.compute(self, **kwargs).result())
        return dask.compute(self, **kwargs)[0]

    def collect(self) -> list:
        """All records, in partition order, as a list on the driver."""
        return self.compute()

    def count(self) -> int:
        """The number of records."""
        return sum(self._to_one("count", _count_partition, _concat).compute())

    def count_by_value(self) -> dict:
        """How many times each distinct record occurs, as a dict on the driver."""
        return dict(self.map(_pair_with_one).reduce_by_key(operator.add).collect())

    def reduce(self, f):
        """Reduce the records with the associative, commutative ``f``; raises on an empty RDD."""
        out = self._to_one("reduce", functools.partial(_reduce_partition, f),
                           functools.partial(_reduce_concat, f)).compute()
        if not out:
            raise ValueError("cannot reduce() an empty RDD; use fold(zero, f) to give a starting value")
        return out[0]

    @checked(f=_reduce_fn)
    def fold(self, zero_value, f):
        """Fold the records with ``f`` starting from ``zero_value`` in every partition and at the end."""
        return self.aggregate(zero_value, f, f)

    @checked(seq_op=function(("accumulator", "record")), comb_op=_reduce_fn)
    def aggregate(self, zero_value, seq_op, comb_op):
        """Fold each partition's records into a copy of ``zero_value`` with ``seq_op(acc, record)``, then the
        partitions' results into another copy with ``comb_op(acc1, acc2)`` (Spark's ``aggregate``).

        Both functions may change their first argument and return it: each partition starts from its own
        copy of ``zero_value``.

        Examples
        --------
        >>> rdd = RDD.from_list([1, 2, 3, 4], 2)
        >>> rdd.aggregate((0, 0), lambda acc, x: (acc[0] + x, acc[1] + 1), lambda a, b: (a[0] + b[0], a[1] + b[1]))
        (10, 4)
        """
        parts = self._per_partition("aggregate", _fold_partition, zero_value, seq_op).collect()
        return functools.reduce(comb_op, parts, copy.deepcopy(zero_value))

    @checked(f=_reduce_fn, depth=positive)
    def tree_reduce(self, f, depth: int = 2):
        """:meth:`reduce` in a tree of combining tasks ``depth`` levels deep (Spark's ``treeReduce``).

        Each task combines the results of about ``npartitions ** (1 / depth)`` tasks below it, so no one
        task gathers every partition's result; ``depth=1`` is :meth:`reduce`. Raises ``ValueError`` on an
        empty RDD.

        Examples
        --------
        >>> import operator
        >>> RDD.from_list(range(100), 16).tree_reduce(operator.add, depth=2)
        4950
        """
        name = f"tree-reduce-{tokenize(self.name, f, depth)}"
        partials = self._per_partition("tree-reduce", _reduce_partition, f, name=f"{name}-partial")
        keys = partials.__dask_keys__()
        fan_in = max(2, math.ceil(len(keys) ** (1 / depth)))
        layer, level = {}, 0
        while len(keys) > fan_in:
            level += 1
            tier = f"{name}-level{level}"
            groups = [keys[i:i + fan_in] for i in range(0, len(keys), fan_in)]
            for j, group in enumerate(groups):
                layer[(tier, j)] = Task((tier, j), _reduce_concat, f, List(*[TaskRef(k) for k in group]))
            keys = [(tier, j) for j in range(len(groups))]
        layer[(name, 0)] = Task((name, 0), _reduce_concat, f, List(*[TaskRef(k) for k in keys]))
        out = partials._new(name, layer, [partials], npartitions=1).compute()
        if not out:
            raise ValueError("cannot tree_reduce() an empty RDD; use aggregate(zero, f, f) to give a starting value")
        return out[0]

    def take(self, n: int) -> list:
        """The first ``n`` records, reading as few partitions as it can (as Spark does)."""
        from .rdd import RDD

        out: list = []
        start, step = 0, 1
        while len(out) < n and start < self.npartitions:
            stop = min(self.npartitions, start + step)
            keys = [(self.name, i) for i in range(start, stop)]
            part = RDD(self.dask, self.name, self.npartitions, self.client)._select(keys, n - len(out))
            out.extend(part.compute())
            start, step = stop, step * 4
        return out[:n]

    def _select(self, keys, limit):
        name = f"take-{tokenize(self.name, tuple(keys), limit)}"
        layer = {(name, j): Task((name, j), _take, limit, TaskRef(k)) for j, k in enumerate(keys)}
        return self._new(name, layer, [self], len(keys))

    @checked(prefetch_partitions=flag)
    def to_local_iterator(self, prefetch_partitions: bool = False):
        """Iterate over the records on the driver, holding one partition at a time (Spark's ``toLocalIterator``).

        The RDD is persisted on the cluster while the iterator runs (unless it already was), so each
        partition is computed once, and the driver fetches the partitions in order. With
        ``prefetch_partitions`` the next partition is fetched while the current one is iterated, which
        holds two on the driver.

        Examples
        --------
        >>> records = RDD.from_list(range(5), 2).to_local_iterator()
        >>> next(records), list(records)
        (0, [1, 2, 3, 4])
        """
        kept = self if self.is_persisted else self.persist()
        try:
            ahead = None
            for i in range(kept.npartitions):
                current = ahead if ahead is not None else kept._fetch(i)
                ahead = kept._fetch(i + 1) if prefetch_partitions and i + 1 < kept.npartitions else None
                yield from current()
        finally:
            if kept is not self:
                kept.unpersist()

    def _fetch(self, i):
        """Start computing partition ``i`` on the cluster; returns the function that gives its records."""
        part = self._select([(self.name, i)], None)
        return part.compute if self.client is None else self.client.compute(part).result

    def first(self):
        """The first record; raises ``ValueError`` on an empty RDD."""
        got = self.take(1)
        if not got:
            raise ValueError("RDD is empty: first() has no record to return")
        return got[0]

    def is_empty(self) -> bool:
        """True when the RDD has no record."""
        return not self.take(1)

    def foreach(self, f) -> None:
        """Run ``f(record)`` on the workers for every record."""
        self._per_partition("foreach", _foreach, f).compute()

    def foreach_partition(self, f) -> None:
        """Run ``f(iterator)`` on the workers once per partition (open connections here)."""
        self._per_partition("foreach-partition", _foreach_partition, f).compute()

    @checked(path=text)
    def save_as_text_file(self, path: str) -> list[str]:
        """Write one ``part-NNNNN`` text file per partition under ``path`` (any fsspec URL), a record per line."""
        return self._save(path, _write_text, "save")

    @checked(path=text)
    def save_as_pickle_file(self, path: str) -> list[str]:
        """Write one ``part-NNNNN`` file per partition under ``path`` (any fsspec URL): the partition's records as
        one pickled list (Spark's ``saveAsPickleFile`` writes a Hadoop SequenceFile instead).

        Read a part back with ``pickle.load(open(part, "rb"))``; only unpickle files you trust.

        Examples
        --------
        >>> RDD.from_list([{"a": 1}, (2, 3)], 2).save_as_pickle_file("/tmp/records")  # doctest: +SKIP
        ['/tmp/records/part-00000', '/tmp/records/part-00001']
        """
        return self._save(path, _write_pickle, "save-pickle")

    def _save(self, path, write, op):
        """Write each partition with ``write(part_path, records)`` on the workers, then ``_SUCCESS``."""
        import fsspec

        fs, root = fsspec.core.url_to_fs(path)
        fs.makedirs(root, exist_ok=True)
        base = path.rstrip("/")
        name = f"{op}-{tokenize(self.name, path)}"
        layer = {
            (name, i): Task((name, i), write, f"{base}/part-{i:05d}", TaskRef((self.name, i)))
            for i in range(self.npartitions)
        }
        written = self._new(name, layer, [self]).compute()
        with fs.open(f"{root}/_SUCCESS", "w"):
            pass
        return written
