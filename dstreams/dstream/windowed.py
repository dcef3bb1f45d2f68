"""Window operations: a window's RDD is built from the parent's RDDs of the last ``window`` ms."""
from __future__ import annotations

import functools

from .._util import fmt_ms, in_task
from .base import DStream


class _WindowBase(DStream):
    """What every window operator shares: its window and slide (multiples of the parent's slide), and
    parents that remember a whole window."""

    def _set_window(self, parent, window, slide):
        self.window_ms = parent._check_duration(window, "window duration")
        self.own_slide_ms = parent.slide_ms if slide is None else parent._check_duration(slide, "slide duration")

    @property
    def slide_ms(self):
        return self.own_slide_ms

    def parent_remember_ms(self):
        return self._with_checkpoint_lineage(self.remember_ms + self.window_ms)


class WindowedDStream(_WindowBase):
    """Every ``slide``, the union of the parent's RDDs over the last ``window`` (Spark's WindowedDStream)."""

    op = "window"

    def __init__(self, parent, window_duration, slide_duration=None):
        super().__init__(parent.ssc, [parent])
        self._set_window(parent, window_duration, slide_duration)
        parent.persist()  # a batch is part of several windows: compute it once

    def compute(self, t):
        parent = self.dependencies[0]
        rdds = parent.slice(t - self.window_ms + parent.slide_ms, t)
        if not rdds:
            from ..rdd import RDD
            return RDD.empty(self.ssc.client, name=self.rdd_name(t, "empty"))
        return rdds[0].union(*rdds[1:], name=self.rdd_name(t))


def reduce_by_window(stream, f, inv_f, window, slide):
    if window is None:
        raise TypeError("reduce_by_window() needs window_duration, e.g. reduce_by_window(add, sub, 30, 10)")
    if inv_f is None:
        return stream.reduce(f).window(window, slide).reduce(f)
    keyed = stream.map(_key_none).reduce_by_key_and_window(f, inv_f, window, slide, 1)
    out = keyed.map(_value)
    out.inner_streams = ((keyed, ".window"),)
    return out


def reduce_by_key_and_window(stream, f, inv_f, window, slide, num_partitions, filter_func):
    if window is None:
        raise TypeError("reduce_by_key_and_window() needs window_duration, e.g. (add, sub, 30, 10)")
    if inv_f is None:
        out = stream.reduce_by_key(f, num_partitions).window(window, slide).reduce_by_key(f, num_partitions)
        return out if filter_func is None else out.filter(filter_func)
    return ReducedWindowedDStream(stream, f, inv_f, window, slide, num_partitions, filter_func)


def _key_none(x):
    return (None, x)


def _value(kv):
    return kv[1]


def _merge_window(f, inv_f, kv):
    """One key of (previous window, values leaving, values entering) -> its new windowed value."""
    key, (prev, old, new) = kv
    if prev:
        value = prev[0]
        if old:
            value = inv_f(value, functools.reduce(f, old))
        if new:
            value = f(value, functools.reduce(f, new))
        return [(key, value)]
    if old:
        raise in_task(RuntimeError(
            f"key {key!r} has values leaving the window but no value in the previous window: filter_func "
            "dropped it while values of it were still in the window. filter_func may only drop keys whose "
            "window is empty (for counts: lambda kv: kv[1] != 0)"
        ))
    return [(key, functools.reduce(f, new))] if new else []


def _filter_pairs(filter_func, part):
    return [kv for kv in part if filter_func(kv)]


class ReducedWindowedDStream(_WindowBase):
    """Incremental reduce_by_key_and_window: previous window + entering batches - leaving batches."""

    op = "reduce-by-key-and-window"

    def __init__(self, parent, f, inv_f, window, slide, num_partitions, filter_func):
        reduced = parent.reduce_by_key(f, num_partitions)
        super().__init__(parent.ssc, [reduced])
        self._set_window(reduced, window, slide)
        self.f, self.inv_f, self.filter_func = f, inv_f, filter_func
        self.num_partitions = num_partitions
        reduced.persist()
        self.persist()  # the next window starts from this one
        self.needs_checkpoint = True

    def initialize(self, zero_time):
        from .stateful import default_checkpoint

        default_checkpoint(self)
        self.remember_ms = max(self.remember_ms or 0, 2 * self.own_slide_ms)
        super().initialize(zero_time)

    def compute(self, t):
        reduced = self.dependencies[0]
        bs = reduced.slide_ms
        cur_begin = t - self.window_ms + bs
        prev_end = t - self.own_slide_ms
        prev_begin = cur_begin - self.own_slide_ms
        old = reduced.slice(prev_begin, cur_begin - bs)
        new = reduced.slice(prev_end + bs, t)
        prev = self.get_or_compute(prev_end) if prev_end > self.zero_time else None
        from ..rdd import RDD

        name = self.rdd_name(t)
        if prev is None:
            prev = RDD.empty(self.ssc.client, name=f"{name}-noprev")
        inputs = [prev] + old + new
        # cogroup of all inputs, then fold into (prev, old values, new values) per key
        n = self.num_partitions or max(1, *(r.npartitions for r in inputs))
        grouped = inputs[0].cogroup(*inputs[1:], num_partitions=n, name=f"{name}-cogroup")
        n_old = len(old)
        merged = grouped.map_values(functools.partial(_split_groups, n_old), name=f"{name}-split")
        out = merged._per_partition("merge", _flat_merge, self.f, self.inv_f, name=(
            name if self.filter_func is None else f"{name}-merge"), keep_partitioner=True)
        if self.filter_func is not None:
            out = out._per_partition("filter", _filter_pairs, self.filter_func, name=name, keep_partitioner=True)
        return out

    def validate_at_start(self):
        super().validate_at_start()
        self._require_checkpoint_dir(
            "a window reduced with an inverse function: reduce_by_key_and_window, reduce_by_window or "
            "count_by_window with an inverse, or count_by_value_and_window")
        if self.window_ms < self.own_slide_ms:
            raise ValueError(f"window {fmt_ms(self.window_ms)} of stream {self.label} is shorter than its slide")


def _split_groups(n_old, groups):
    prev = groups[0]
    old = [v for g in groups[1:1 + n_old] for v in g]
    new = [v for g in groups[1 + n_old:] for v in g]
    return prev, old, new


def _flat_merge(f, inv_f, part):
    out = []
    for kv in part:
        out.extend(_merge_window(f, inv_f, kv))
    return out
