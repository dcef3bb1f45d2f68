"""Per-batch transformations: each batch's RDD is built from the parents' RDDs of the same time."""
from __future__ import annotations

import operator

from .._util import call_with_optional_time, describe, fmt_ms
from ..partitions import _count_partition
from ..rdd import RDD
from .base import DStream

add = operator.add
sub = operator.sub


def one(_):
    return 1


def pair_with_one(x):
    return (x, 1)


def value_not_zero(kv):
    return kv[1] != 0


def _sum_counts(parts):
    return [sum(x for p in parts for x in p)]


def count_rdd(rdd: RDD, name: str) -> RDD:
    """A one-partition RDD holding the record count of ``rdd`` (0 when empty, as in Spark)."""
    return rdd._to_one("count", _count_partition, _sum_counts, name=name)


def reduce_rdd(rdd: RDD, f, name: str) -> RDD:
    """A one-partition RDD holding ``rdd`` reduced by ``f`` (empty when ``rdd`` is)."""
    import functools

    from ..partitions import _reduce_concat, _reduce_partition

    return rdd._to_one("reduce", functools.partial(_reduce_partition, f),
                       functools.partial(_reduce_concat, f), name=name)


class PerRDD(DStream):
    """Apply ``fn(rdd, name)`` to the parent's RDD of every batch (Spark's MappedDStream and kin)."""

    def __init__(self, parent, op, fn):
        self.op = op
        super().__init__(parent.ssc, [parent])
        self.fn = fn

    def compute(self, t):
        rdd = self.dependencies[0].get_or_compute(t)
        return None if rdd is None else self.fn(rdd, self.rdd_name(t))


class PerRDD2(DStream):
    """Apply ``fn(rdd_a, rdd_b, name)`` to the RDDs of two streams with the same slide (joins)."""

    def __init__(self, a, b, op, fn):
        self.op = op
        super().__init__(a.ssc, [a, b])
        _same_slide(self.dependencies, op)
        self.fn = fn

    def compute(self, t):
        a, b = (d.get_or_compute(t) for d in self.dependencies)
        if a is None or b is None:
            return None
        return self.fn(a, b, self.rdd_name(t))


def context_of(parents, what):
    """The context of the first of ``parents``, refusing anything but a non-empty list of streams."""
    if not parents:
        raise ValueError(f"{what} needs at least one stream")
    if not isinstance(parents[0], DStream):
        raise TypeError(f"{what} expected DStreams, got {parents[0]!r} ({type(parents[0]).__name__})")
    return parents[0].ssc


class UnionDStream(DStream):
    """The records of several streams with the same slide, batch by batch."""

    op = "union"

    def __init__(self, parents):
        super().__init__(context_of(parents, "union()"), parents)
        _same_slide(self.dependencies, "union")

    def compute(self, t):
        rdds = [r for r in (d.get_or_compute(t) for d in self.dependencies) if r is not None]
        if not rdds:
            return None
        return rdds[0].union(*rdds[1:], name=self.rdd_name(t))


class TransformedDStream(DStream):
    """Build each batch with a user function of the parents' RDDs, run on the driver: ``func(*rdds)``, or
    ``func(rdds)`` with ``as_list`` (``ssc.transform``)."""

    op = "transform"
    as_list = False  # a class default: streams checkpointed before it existed read as they were

    def __init__(self, parents, func, as_list=False):
        super().__init__(context_of(parents, "transform()"), parents)
        _same_slide(self.dependencies, "transform")
        self.func = func
        self.as_list = as_list

    def compute(self, t):
        rdds = [d.get_or_compute(t) for d in self.dependencies]
        if any(r is None for r in rdds):
            return None
        out = call_with_optional_time(self.func, t, *([rdds] if self.as_list else rdds))
        if not isinstance(out, RDD):
            raise TypeError(
                f"the function given to transform() on stream {self.label}, {describe(self.func)}, "
                f"returned {type(out).__name__}; it must return an RDD (for example rdd.map(...))"
            )
        return out


def _same_slide(streams, op):
    slides = {s.slide_ms for s in streams}
    if len(slides) > 1:
        desc = ", ".join(f"{s.label} slides every {fmt_ms(s.slide_ms)}" for s in streams)
        raise ValueError(f"{op} needs streams with the same slide duration, but {desc}; window them alike")
