"""The RDD that PySpark code sees: PySpark's method names over a :class:`dstreams.RDD` (``.rdd``)."""
from __future__ import annotations

from . import names
from ._adapt import install, missing


class RDD:
    """A :class:`dstreams.RDD` with PySpark's method names; ``.rdd`` is the dstreams RDD.

    Examples
    --------
    >>> counts.foreachRDD(lambda rdd: print(rdd.sortByKey().take(3)))  # doctest: +SKIP
    """

    _attribute = "rdd"

    def __init__(self, rdd):
        self.rdd = rdd

    @property
    def _dstreams_object(self):
        return self.rdd

    @property
    def context(self):
        """The facade SparkContext of the cluster this RDD runs on (PySpark's ``rdd.context``)."""
        from .context import SparkContext

        return SparkContext._of_client(self.rdd.client)

    def __iter__(self):
        raise TypeError("an RDD is not iterable; use rdd.collect() or rdd.toLocalIterator()")

    def __getattr__(self, name):
        raise missing(type(self), name)

    def __repr__(self):
        return repr(self.rdd)


install(RDD, names.RDD, "rdd")
