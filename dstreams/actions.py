"""Actions of an RDD: they run its graph on the cluster and give the result to the driver, or write it out.

:class:`Actions` is a base class of :class:`dstreams.RDD` (transformations only build the graph; these
compute it), with Spark's names: ``collect``, ``count``, ``reduce``, ``take``, ``foreach_partition``, ...
"""
from __future__ import annotations

import functools
import operator

import dask
from dask.base import tokenize

from ._compat import Task, TaskRef
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
    _write_text,
)


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

    def fold(self, zero_value, f):
        """Fold the records with ``f`` starting from ``zero_value`` in every partition and at the end."""
        parts = self._per_partition("fold", _fold_partition, zero_value, f).collect()
        return functools.reduce(f, parts, zero_value)

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

    def save_as_text_file(self, path: str) -> list[str]:
        """Write one ``part-NNNNN`` text file per partition under ``path`` (any fsspec URL)."""
        import fsspec

        fs, root = fsspec.core.url_to_fs(path)
        fs.makedirs(root, exist_ok=True)
        base = path.rstrip("/")
        name = f"save-{tokenize(self.name, path)}"
        layer = {
            (name, i): Task((name, i), _write_text, f"{base}/part-{i:05d}", TaskRef((self.name, i)))
            for i in range(self.npartitions)
        }
        written = self._new(name, layer, [self]).compute()
        with fs.open(f"{root}/_SUCCESS", "w"):
            pass
        return written
