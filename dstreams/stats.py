"""Numbers and samples of an RDD: ``sum``, ``mean``, ``max``, ``min``, ``stats`` (a :class:`StatCounter`) and
``sample``.

:class:`Statistics` is a base class of :class:`dstreams.RDD`. Each action computes one partial per
partition on the workers and combines the partials in one more task, so one small result comes back to
the driver. The values mean what they mean in Spark, empty RDDs included.
"""
from __future__ import annotations

import functools
import math
import numbers
import random

from ._util import Records, checked, flag, function


class StatCounter:
    """Count, mean, variance, max and min of numbers, merged in one pass (Spark's ``StatCounter``).

    ``rdd.stats()`` returns one. As in Spark, an empty one has count 0, mean and sum 0.0, variance
    ``nan``, max ``-inf`` and min ``inf``.

    Examples
    --------
    >>> s = StatCounter([1, 2, 3, 4])
    >>> s.count(), s.mean(), s.sum(), s.max(), s.min()
    (4, 2.5, 10.0, 4, 1)
    >>> s.variance(), s.sample_variance()
    (1.25, 1.6666666666666667)
    >>> s.merge_stats(StatCounter([5])).count()
    5
    """

    __slots__ = ("n", "mu", "m2", "max_value", "min_value")

    def __init__(self, values=()):
        self.n = 0  # how many values
        self.mu = 0.0  # their mean
        self.m2 = 0.0  # the sum of their squared distances to the mean
        self.max_value = -math.inf
        self.min_value = math.inf
        for v in values:
            self.merge(v)

    def merge(self, value) -> StatCounter:
        """Add one value (Welford's update); returns this counter."""
        delta = value - self.mu
        self.n += 1
        self.mu += delta / self.n
        self.m2 += delta * (value - self.mu)
        self.max_value = max(self.max_value, value)
        self.min_value = min(self.min_value, value)
        return self

    def merge_stats(self, other: StatCounter) -> StatCounter:
        """Add the values counted by ``other`` (Chan's parallel update); returns this counter."""
        if not isinstance(other, StatCounter):
            raise TypeError(f"merge_stats() needs a StatCounter, got {type(other).__name__}; use merge(value) "
                            "to add one value")
        if other.n == 0:
            return self
        if self.n == 0:
            self.n, self.mu, self.m2 = other.n, other.mu, other.m2
            self.max_value, self.min_value = other.max_value, other.min_value
            return self
        n = self.n + other.n
        delta = other.mu - self.mu
        self.mu += delta * other.n / n
        self.m2 += other.m2 + delta * delta * self.n * other.n / n
        self.n = n
        self.max_value = max(self.max_value, other.max_value)
        self.min_value = min(self.min_value, other.min_value)
        return self

    def copy(self) -> StatCounter:
        return StatCounter().merge_stats(self)

    def count(self) -> int:
        return self.n

    def mean(self) -> float:
        return self.mu

    def sum(self) -> float:
        return self.n * self.mu

    def max(self):
        return self.max_value

    def min(self):
        return self.min_value

    def variance(self) -> float:
        """The population variance (divided by the count); ``nan`` when empty."""
        return self.m2 / self.n if self.n else math.nan

    def sample_variance(self) -> float:
        """The sample variance (divided by the count - 1); ``nan`` with fewer than two values."""
        return self.m2 / (self.n - 1) if self.n > 1 else math.nan

    def stdev(self) -> float:
        """The population standard deviation."""
        return math.sqrt(self.variance())

    def sample_stdev(self) -> float:
        """The sample standard deviation."""
        return math.sqrt(self.sample_variance())

    def __repr__(self):
        return (f"(count: {self.count()}, mean: {self.mean()}, stdev: {self.stdev()}, max: {self.max()}, "
                f"min: {self.min()})")


def _sum_partition(part):
    return [sum(part)]


def _sum_parts(parts):
    return [sum(x for p in parts for x in p)]


def _stats_partition(part):
    return [StatCounter(part)]


def _merge_stats(parts):
    return [functools.reduce(StatCounter.merge_stats, (s for p in parts for s in p), StatCounter())]


def _extreme(pick, key, part):
    return [pick(part, key=key)] if part else []


def _extreme_of_parts(pick, key, parts):
    return _extreme(pick, key, [x for p in parts for x in p])


def _poisson(rng, mean):
    """A draw from the Poisson distribution of ``mean``: arrivals of a rate-1 process within ``mean``."""
    k, t = 0, rng.expovariate(1.0)
    while t < mean:
        k += 1
        t += rng.expovariate(1.0)
    return k


def _sample_partition(with_replacement, fraction, seed, index, part):
    rng = random.Random(seed ^ index)
    if with_replacement:
        return Records(x for x in part for _ in range(_poisson(rng, fraction)))
    return Records(x for x in part if rng.random() < fraction)


def _fraction(value, what):
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{what} must be a number, got {value!r} ({type(value).__name__}); for example 0.1")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}; for example 0.1")
    return float(value)


def _seed(value, what):
    if value is not None and (not isinstance(value, numbers.Integral) or isinstance(value, bool)):
        raise TypeError(f"{what} must be an integer or None, got {value!r} ({type(value).__name__}); "
                        "for example 42")
    return value


_key = function(("record",), optional=True)


class Statistics:
    """Numeric actions and sampling of an :class:`~dstreams.RDD` (a base class of it, not used alone)."""

    def sum(self):
        """The sum of the records (0 for an empty RDD).

        Examples
        --------
        >>> RDD.from_list([1, 2, 3], 2).sum()
        6
        """
        return self._to_one("sum", _sum_partition, _sum_parts).compute()[0]

    def stats(self) -> StatCounter:
        """Count, mean, variance, max and min of the records in one pass, as a :class:`StatCounter`.

        Examples
        --------
        >>> RDD.from_list([1, 2, 3, 4], 2).stats()
        (count: 4, mean: 2.5, stdev: 1.118033988749895, max: 4, min: 1)
        """
        return self._to_one("stats", _stats_partition, _merge_stats).compute()[0]

    def mean(self) -> float:
        """The mean of the records (0.0 for an empty RDD, as in Spark).

        Examples
        --------
        >>> RDD.from_list([1, 2, 3, 4], 2).mean()
        2.5
        """
        return self.stats().mean()

    def variance(self) -> float:
        """The population variance of the records (``nan`` for an empty RDD).

        Examples
        --------
        >>> RDD.from_list([1, 2, 3, 4], 2).variance()
        1.25
        """
        return self.stats().variance()

    def stdev(self) -> float:
        """The population standard deviation of the records.

        Examples
        --------
        >>> RDD.from_list([2, 4, 4, 4, 5, 5, 7, 9], 3).stdev()
        2.0
        """
        return self.stats().stdev()

    def sample_variance(self) -> float:
        """The sample variance of the records (divided by the count - 1; ``nan`` for fewer than two).

        Examples
        --------
        >>> RDD.from_list([1, 2, 3, 4], 2).sample_variance()
        1.6666666666666667
        """
        return self.stats().sample_variance()

    def sample_stdev(self) -> float:
        """The sample standard deviation of the records.

        Examples
        --------
        >>> RDD.from_list([1, 3], 2).sample_stdev()
        1.4142135623730951
        """
        return self.stats().sample_stdev()

    @checked(key=_key)
    def max(self, key=None):
        """The largest record (by ``key(record)`` when given); ``ValueError`` on an empty RDD.

        Examples
        --------
        >>> RDD.from_list([3, 9, 4], 2).max(), RDD.from_list(["bb", "a"], 2).max(key=len)
        (9, 'bb')
        """
        return self._extreme("max", max, key)

    @checked(key=_key)
    def min(self, key=None):
        """The smallest record (by ``key(record)`` when given); ``ValueError`` on an empty RDD.

        Examples
        --------
        >>> RDD.from_list([3, 9, 4], 2).min()
        3
        """
        return self._extreme("min", min, key)

    def _extreme(self, op, pick, key):
        out = self._to_one(op, functools.partial(_extreme, pick, key),
                           functools.partial(_extreme_of_parts, pick, key)).compute()
        if not out:
            raise ValueError(f"{op}() of an empty RDD: there is no record to return; check is_empty() first")
        return out[0]

    @checked(with_replacement=flag, fraction=_fraction, seed=_seed)
    def sample(self, with_replacement: bool, fraction: float, seed: int | None = None, name=None):
        """A random sample of the records (Spark's ``sample``), in the same partitions and order.

        Without replacement, each record is kept with probability ``fraction`` (between 0 and 1); with
        replacement, each record appears a Poisson-distributed number of times whose mean is ``fraction``
        (any number >= 0). So the sample holds about ``fraction`` times the records, not exactly. Partition
        ``i`` draws from ``random.Random(seed ^ i)``: with a ``seed``, the sample is the same on every run
        and cluster. Without one, a seed is drawn now, so recomputing this RDD gives the same sample.

        Examples
        --------
        >>> rdd = RDD.from_list(range(100), 4)
        >>> rdd.sample(False, 0.1, seed=7).collect() == rdd.sample(False, 0.1, seed=7).collect()
        True
        >>> rdd.sample(False, 1.0).count(), rdd.sample(True, 0.0).count()
        (100, 0)
        """
        if not with_replacement and fraction > 1:
            raise ValueError(f"sample(): fraction {fraction} is over 1 without replacement (it is the probability "
                             "to keep each record); use a fraction <= 1, or with_replacement=True to draw records "
                             "several times")
        if seed is None:
            seed = random.SystemRandom().getrandbits(63)
        return self._per_partition("sample", _sample_partition, with_replacement, fraction, int(seed),
                                   name=name, with_index=True, keep_partitioner=True)
