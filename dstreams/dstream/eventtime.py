"""Event time: a layer over batch time (see docs/event-time.md).

``stream.with_event_time(timestamp_func, max_delay)`` makes an event-time stream. Its RDDs hold the plain
records, as any stream's; beside them it keeps, per batch, the same partitions as ``(event_time_ms, record)``
pairs (:meth:`EventDStream.timestamped`), which ``map``, ``filter``, ``flat_map``, ``map_values`` and
``flat_map_values`` carry through, so an event-time operator further down still knows every record's time.

Per batch, three small stateful streams do the work on the cluster; the driver never pulls records:

- :class:`_Watermarks` (one partition, one record): per input partition the largest event time seen and
  the last batch that had a record there, and the watermark before and after the batch. Each batch adds
  one tiny task per input partition (its largest event time) and one task that combines them.
- :class:`_Assigned`: per partition of the keyed records, the ``((key, start_ms, end_ms), value)`` pairs of
  the windows each on-time record falls in, and the records behind the watermark (``late_records()``).
- :class:`_EventWindowCore`: the open windows (``((key, start_ms, end_ms), accumulator)`` pairs) merged
  with the batch's pairs; it emits final (or updated) windows and keeps the others.

The state streams are data-checkpointed and restored as ``update_state_by_key`` is, watermarks included.
"""
from __future__ import annotations

from .._compat import Task, TaskRef
from .._util import check_function, fmt_ms, partitions
from ..rdd import RDD
from .base import DStream, _ms, fluent
from .eventtime_tasks import (
    NO_WATERMARK,
    _add,
    _assign,
    _assigned_late,
    _assigned_pairs,
    _combine_maxima,
    _concat,
    _first,
    _key_none_one,
    _merge_windows,
    _partition_max,
    _second,
    _singleton,
    _stamp,
    _stamped_filter,
    _stamped_flat_map,
    _stamped_flat_map_values,
    _stamped_map,
    _stamped_map_values,
    _unstamp,
    _with_side,
)
from .stateful import _StatefulBase


# -- argument checks (for @fluent) -------------------------------------------------------------
def _mode(value, what):
    if value not in ("final", "update"):
        raise ValueError(f"{what} must be 'final' (each window once, when the watermark passes its end) or "
                         f"'update' (every batch while it is open, with a final flag), got {value!r}")
    return value


def _reduce_func(f, what):
    return check_function(f, what, {2: ("a", "b")})


def _timestamp_func(f, what):
    return check_function(f, what, {1: ("record",)})


# -- streams -----------------------------------------------------------------------------------
class EventDStream(DStream):
    """A stream whose records carry an event time (made by :meth:`DStream.with_event_time`).

    Its RDDs hold the plain records, so every DStream operator applies; ``map``, ``flat_map``, ``filter``,
    ``map_values`` and ``flat_map_values`` keep the event times, and the event-window operators use them.
    """

    op = "event"

    def __init__(self, parent, source, op, func, *args):
        self.op = op
        super().__init__(parent.ssc, [parent])
        self.source = source  # the with_event_time stream: it keeps the watermarks
        self.func, self.args = func, args

    def timestamped(self, t):
        """The batch ``t`` as ``(event time in ms, record)`` pairs, in the source's partitions."""
        rdd = self.dependencies[0].timestamped(t)
        if rdd is None:
            return None
        return rdd._per_partition(self.op, self.func, *self.args, name=self.rdd_name(t, f"{self.op}-stamped"))

    def compute(self, t):
        rdd = self.timestamped(t)
        return None if rdd is None else rdd._per_partition("unstamp", _unstamp, name=self.rdd_name(t))

    # -- record operators that keep event times --------------------------------------------
    @fluent(f=lambda f, what: check_function(f, what, {1: ("record",)}))
    def map(self, f):
        """Apply ``f`` to every record, keeping its event time: ``events.map(lambda r: (r.key, 1))``."""
        return EventDStream(self, self.source, "event-map", _stamped_map, f)

    @fluent(f=lambda f, what: check_function(f, what, {1: ("record",)}))
    def flat_map(self, f):
        """Apply ``f`` to every record and flatten; each output keeps the event time of its record."""
        return EventDStream(self, self.source, "event-flat-map", _stamped_flat_map, f)

    @fluent(f=lambda f, what: check_function(f, what, {1: ("record",)}))
    def filter(self, f):
        """Keep the records for which ``f`` is true, with their event times."""
        return EventDStream(self, self.source, "event-filter", _stamped_filter, f)

    @fluent(f=lambda f, what: check_function(f, what, {1: ("value",)}))
    def map_values(self, f):
        """Apply ``f`` to the value of every ``(key, value)`` pair, keeping its event time."""
        return EventDStream(self, self.source, "event-map-values", _stamped_map_values, f)

    @fluent(f=lambda f, what: check_function(f, what, {1: ("value",)}))
    def flat_map_values(self, f):
        """Apply ``f`` to every value, one pair per item, each with the event time of its record."""
        return EventDStream(self, self.source, "event-flat-map-values", _stamped_flat_map_values, f)

    # -- event-time operators ----------------------------------------------------------------
    @fluent(allowed_lateness=_ms(allow_zero=True))
    def late_records(self, allowed_lateness=0):
        """The records of each batch whose event time is behind the watermark (minus ``allowed_lateness``)
        when they arrive: they are never silently dropped.

        Examples
        --------
        >>> events.map(lambda r: (r.key, 1)).late_records().pprint()  # doctest: +SKIP
        """
        return self._event_window_parts(None, None, allowed_lateness).late

    @fluent(func=_reduce_func, window=_ms(), slide=_ms(optional=True),
            allowed_lateness=_ms(allow_zero=True), mode=_mode,
            num_partitions=partitions())
    def reduce_by_key_and_event_window(self, func, window, slide=None, allowed_lateness=0, mode="final",
                                       num_partitions=None):
        """Reduce the values of each key in each event-time window with ``func``.

        Windows are ``[start, start + window)`` with starts at multiples of ``slide`` (default ``window``:
        tumbling). In ``mode="final"`` each window's ``((key, start, end), value)`` is emitted once, in the
        batch where the watermark passes ``end + allowed_lateness``; in ``mode="update"`` a window is emitted
        as ``((key, start, end), value, is_final)`` in every batch where it got records, and once more when
        it is final. ``start`` and ``end`` are seconds. Records behind ``watermark - allowed_lateness`` go to
        the result's :meth:`late_records`.

        Examples
        --------
        >>> events = stream.with_event_time(lambda r: r["ts"], max_delay=10)  # doctest: +SKIP
        >>> counts = events.map(lambda r: (r["user"], 1)).reduce_by_key_and_event_window(
        ...     operator.add, window=60, slide=10)  # doctest: +SKIP
        """
        if slide is None:
            slide = window
        if slide > window:
            raise ValueError(f"reduce_by_key_and_event_window(): slide {fmt_ms(slide)} is longer than window "
                             f"{fmt_ms(window)}, so records between windows would be in none; use a slide of "
                             f"at most {fmt_ms(window)}")
        parts = self._event_window_parts(window, slide, allowed_lateness)
        core = _EventWindowCore(parts, func, mode, allowed_lateness, num_partitions)
        out = _Emitted(core)
        out.late = parts.late
        out.inner_streams = ((core, ".windows"),)
        return out

    @fluent(window=_ms(), slide=_ms(optional=True), allowed_lateness=_ms(allow_zero=True),
            mode=_mode)
    def count_by_event_window(self, window, slide=None, allowed_lateness=0, mode="final"):
        """The number of records per event-time window: ``((None, start, end), count)`` records (with a final
        flag in ``mode="update"``).

        Examples
        --------
        >>> events.count_by_event_window(60).pprint()  # doctest: +SKIP
        """
        return self.map(_key_none_one).reduce_by_key_and_event_window(
            _add, window / 1000, None if slide is None else slide / 1000, allowed_lateness / 1000, mode)

    @fluent(window=_ms(), slide=_ms(optional=True), allowed_lateness=_ms(allow_zero=True),
            mode=_mode)
    def group_by_key_and_event_window(self, window, slide=None, allowed_lateness=0, mode="final"):
        """``((key, start, end), [values])`` per key and event-time window (values in no set order).

        Examples
        --------
        >>> events.map(lambda r: (r.user, r.page)).group_by_key_and_event_window(60)  # doctest: +SKIP
        """
        return self.map_values(_singleton).reduce_by_key_and_event_window(
            _concat, window / 1000, None if slide is None else slide / 1000, allowed_lateness / 1000, mode)

    def _event_window_parts(self, window_ms, slide_ms, lateness_ms):
        return _Assigned(self, self.source.watermarks, window_ms, slide_ms, lateness_ms)


class EventTimeSource(EventDStream):
    """``with_event_time``: stamps the parent's records with ``timestamp_func`` and keeps the watermarks."""

    op = "with-event-time"

    def __init__(self, parent, timestamp_func, max_delay_ms, idle_timeout_ms):
        DStream.__init__(self, parent.ssc, [parent])
        self.source = self
        self.timestamp_func = timestamp_func
        self.max_delay_ms, self.idle_timeout_ms = max_delay_ms, idle_timeout_ms
        self.stamped = _Stamped(parent, timestamp_func)
        self.watermarks = _Watermarks(self.stamped, max_delay_ms, idle_timeout_ms)
        self.dependencies = [self.stamped]
        self.inner_streams = ((self.watermarks, ".watermarks"),)

    def timestamped(self, t):
        return self.stamped.get_or_compute(t)

    def compute(self, t):
        rdd = self.timestamped(t)
        return None if rdd is None else rdd._per_partition("unstamp", _unstamp, name=self.rdd_name(t))


class _Stamped(DStream):
    """The parent's records as ``(event time ms, record)``, persisted: the watermarks and the operators read it."""

    op = "event-stamp"

    def __init__(self, parent, timestamp_func):
        super().__init__(parent.ssc, [parent])
        self.timestamp_func = timestamp_func
        self.persist()

    def compute(self, t):
        rdd = self.dependencies[0].get_or_compute(t)
        if rdd is None:
            rdd = RDD.empty(self.ssc.client, name=self.rdd_name(t, "no-input"))
        return rdd._per_partition(self.op, _stamp, self.timestamp_func, name=self.rdd_name(t))


class _Watermarks(_StatefulBase):
    """One partition, one record: ``((parts, watermark after), watermark before)`` for each batch."""

    op = "watermarks"

    def __init__(self, stamped, max_delay_ms, idle_timeout_ms):
        super().__init__(stamped, None)
        self.max_delay_ms, self.idle_timeout_ms = max_delay_ms, idle_timeout_ms

    def compute(self, t):
        stamped = self.dependencies[0].get_or_compute(t)
        name = self.rdd_name(t)
        maxima = stamped._per_partition("partition-max", _partition_max, name=f"{name}-max", with_index=True)
        prev = self.previous_state(t)
        refs = [TaskRef(k) for k in maxima.__dask_keys__()]
        from .._compat import List

        prev_ref = List(TaskRef((prev.name, 0))) if prev is not None else List()
        layer = {(name, 0): Task((name, 0), _combine_maxima, prev_ref, t, self.max_delay_ms,
                                 self.idle_timeout_ms, List(*refs))}
        deps = [maxima] + ([prev] if prev is not None else [])
        return maxima._new(name, layer, deps, npartitions=1)


class _Assigned(DStream):
    """Per partition of keyed stamped records: [(window pairs of the on-time records, late records)]."""

    op = "event-assign"

    def __init__(self, keyed, watermarks, window_ms, slide_ms, lateness_ms):
        super().__init__(keyed.ssc, [keyed, watermarks])
        self.window_ms, self.window_slide_ms, self.lateness_ms = window_ms, slide_ms, lateness_ms
        self.watermarks = watermarks
        self.persist()  # read by the windows, late_records() and the batch's counts
        self.late = _Part(self, "late-records", _assigned_late)

    @property
    def slide_ms(self):
        return self.dependencies[0].slide_ms

    def compute(self, t):
        keyed, wm = self.dependencies[0].timestamped(t), self.watermarks.get_or_compute(t)
        if keyed is None:
            keyed = RDD.empty(self.ssc.client, name=self.rdd_name(t, "no-input"))
        return _with_side(keyed, wm, _assign, self.window_ms, self.window_slide_ms, self.lateness_ms,
                          name=self.rdd_name(t))


class _Part(DStream):
    """One view of a stream whose partitions hold one record each: ``func(partition)``."""

    def __init__(self, parent, op, func):
        self.op = op
        super().__init__(parent.ssc, [parent])
        self.func = func

    def compute(self, t):
        rdd = self.dependencies[0].get_or_compute(t)
        return None if rdd is None else rdd._per_partition(self.op, self.func, name=self.rdd_name(t),
                                                           keep_partitioner=True)


class _EventWindowCore(_StatefulBase):
    """The open windows of each key: per partition one record, ``(kept windows, emitted records)``."""

    op = "event-window"

    def __init__(self, assigned, func, mode, lateness_ms, num_partitions):
        super().__init__(assigned, num_partitions)
        self.func, self.mode, self.lateness_ms = func, mode, lateness_ms
        self.assigned = assigned
        self.counts: dict[int, dict] = {}  # batch time -> what batch_jobs_done reported

    def compute(self, t):
        assigned = self.assigned.get_or_compute(t)
        wm = self.assigned.watermarks.get_or_compute(t)
        name = self.rdd_name(t)
        new = assigned._per_partition("pairs", _assigned_pairs, name=f"{name}-pairs")
        prev = self.previous_state(t)
        prev = (prev._per_partition("states", _first, name=f"{name}-prev", keep_partitioner=True) if prev is not None
                else RDD.empty(self.ssc.client, name=f"{name}-no-state"))
        grouped = prev.cogroup(new, num_partitions=self._partitions(prev, new), name=f"{name}-cogroup")
        return _with_side(grouped, wm, _merge_windows, self.func, self.mode, self.lateness_ms, name=name)

    def batch_jobs_done(self, t):
        """Count the batch's late records and open windows and read its watermark (small tasks on persisted
        data), into the batch's input info under ``"event_time"``: ``{stream name: {...}}``."""
        core, assigned = self.generated.get(t), self.assigned.generated.get(t)
        wm = self.assigned.watermarks.generated.get(t)
        if core is None or assigned is None or wm is None:
            return
        open_windows = core._per_partition("count", lambda p: [len(_first(p))], name=self.rdd_name(t, "open"))
        late = assigned._per_partition("count", lambda p: [len(_assigned_late(p))], name=self.rdd_name(t, "late"))
        import dask

        opens, lates, state = dask.compute(open_windows, late, wm, scheduler=self.ssc.client.get)
        n_open, n_late = sum(opens), sum(lates)
        ((_, watermark), _before), = state
        report = {"watermark": None if watermark == NO_WATERMARK else watermark / 1000.0,
                  "late_records": int(n_late), "open_windows": int(n_open)}
        self.counts[t] = report
        for old in [k for k in self.counts if k <= t - 100 * self.slide_ms]:
            del self.counts[old]
        for inp in _inputs(self):
            info = inp.reported(t)
            if info is not None:
                info.metadata.setdefault("event_time", {})[self.name] = report


def _inputs(stream):
    seen, todo, out = set(), [stream], []
    while todo:
        s = todo.pop()
        if id(s) in seen:
            continue
        seen.add(id(s))
        if getattr(s, "is_input", False):
            out.append(s)
        todo.extend(s.dependencies)
    return out


class _Emitted(_Part):
    """The windows an event-window operator emits; ``late_records()`` gives the records it left out."""

    def __init__(self, core):
        super().__init__(core, "event-window-out", _second)
        self.core = core

    def late_records(self):
        """The records this operator left out, being behind the watermark minus its allowed lateness.

        Examples
        --------
        >>> counts.late_records().pprint()  # doctest: +SKIP
        """
        return self.late

    def event_time_info(self, time):
        """What batch ``time`` (ms or datetime) reported: ``{"watermark", "late_records", "open_windows"}``."""
        from .._util import time_to_ms

        return self.core.counts.get(time_to_ms(time))
