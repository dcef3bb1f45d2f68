"""The functions event-time streams run on the workers (see :mod:`dstreams.dstream.eventtime`), and the two
rules the plain-Python reference shares: how the watermark advances and which windows hold a time."""
from __future__ import annotations

import functools
import math

from .._compat import Task, TaskRef

#: the watermark before any record is seen
NO_WATERMARK = -math.inf


def _stamp(timestamp_func, part):
    """records -> (event time in ms, record); the timestamp function returns seconds."""
    out = []
    for r in part:
        ts = timestamp_func(r)
        try:
            ms = float(ts) * 1000.0
        except (TypeError, ValueError) as e:
            raise TypeError(f"with_event_time(): timestamp_func returned {ts!r} ({type(ts).__name__}) for record "
                            f"{r!r}; it must return the event time in seconds, e.g. lambda r: r.timestamp / 1000"
                            ) from e
        if math.isnan(ms):
            raise ValueError(f"with_event_time(): timestamp_func returned NaN for record {r!r}")
        out.append((ms, r))
    return out


def _unstamp(part):
    return [r for _, r in part]


def _stamped_map(f, part):
    return [(ts, f(r)) for ts, r in part]


def _stamped_flat_map(f, part):
    return [(ts, y) for ts, r in part for y in f(r)]


def _stamped_filter(f, part):
    return [(ts, r) for ts, r in part if f(r)]


def _stamped_map_values(f, part):
    return [(ts, (k, f(v))) for ts, (k, v) in part]


def _stamped_flat_map_values(f, part):
    return [(ts, (k, y)) for ts, (k, v) in part for y in f(v)]


def _partition_max(index, part):
    """One input partition's largest event time (None when empty)."""
    return [(index, max((ts for ts, _ in part), default=None))]


def advance_watermark(prev, maxima, t, max_delay_ms, idle_timeout_ms):
    """The watermark state after batch ``t`` (also the plain-Python reference's rule).

    ``prev`` is the state before (None at the start): ``(parts, watermark)`` with ``parts`` a tuple of
    ``(partition, largest event time, last batch time with a record)``. ``maxima`` is the batch's
    ``(partition, largest event time or None)`` pairs. The watermark is the minimum over the partitions not
    idle (a record within ``idle_timeout_ms`` of batch time) of their largest event time minus
    ``max_delay_ms``; it never moves backwards.
    """
    parts = {p: (m, seen) for p, m, seen in (prev[0] if prev else ())}
    before = prev[1] if prev else NO_WATERMARK
    for p, m in maxima:
        if m is None:
            continue
        old = parts.get(p)
        parts[p] = (m if old is None else max(old[0], m), t)
    active = [m for m, seen in parts.values() if idle_timeout_ms is None or t - seen <= idle_timeout_ms]
    wm = before
    if active:
        wm = max(before, min(active) - max_delay_ms)
    return tuple(sorted((p, m, seen) for p, (m, seen) in parts.items())), wm


def _combine_maxima(prev_parts, t, max_delay_ms, idle_timeout_ms, maxima_parts):
    prev = prev_parts[0][0] if prev_parts and prev_parts[0] else None  # (state, before) or None
    state = prev[0] if prev else None
    maxima = [pair for part in maxima_parts for pair in part]
    new = advance_watermark(state, maxima, t, max_delay_ms, idle_timeout_ms)
    before = state[1] if state else NO_WATERMARK
    return [(new, before)]


def window_starts(ts_ms, window_ms, slide_ms):
    """Starts (ms) of the windows ``[start, start + window)`` holding ``ts_ms``, aligned to multiples of the slide."""
    start = math.floor(ts_ms / slide_ms) * slide_ms
    out = []
    while start + window_ms > ts_ms:
        out.append(start)
        start -= slide_ms
    return out[::-1]


def _assign(window_ms, slide_ms, lateness_ms, wm_part, part):
    """Keyed stamped records -> [(on-time window pairs, late records)], given the watermark before the batch."""
    (_, before), = wm_part
    limit = before - lateness_ms
    pairs, late = [], []
    for ts, record in part:
        key, value = record if window_ms is not None else (None, record)
        if ts < limit:
            late.append((key, value) if window_ms is not None else value)
            continue
        for s in window_starts(ts, window_ms, slide_ms) if window_ms is not None else ():
            pairs.append(((key, s, s + window_ms), value))
    return [(pairs, late)]


def _assigned_pairs(part):
    return part[0][0] if part else []


def _assigned_late(part):
    return part[0][1] if part else []


def _merge_windows(func, mode, lateness_ms, wm_part, part):
    """(window, ([accumulator], [new values])) -> [(kept state, emitted records)] given the watermark after."""
    (state, _before), = wm_part
    wm = state[1]
    keep, emitted = [], []
    for (key, s, e), (accs, values) in part:
        acc = accs[0] if accs else None
        if values:
            acc = functools.reduce(func, values, acc) if accs else functools.reduce(func, values)
        final = e + lateness_ms <= wm
        window = (key, s / 1000.0, e / 1000.0)
        if mode == "final":
            if final:
                emitted.append((window, acc))
        elif values or final:
            emitted.append((window, acc, final))
        if not final:
            keep.append(((key, s, e), acc))
    return [(keep, emitted)]


def _first(part):
    return part[0][0] if part else []


def _second(part):
    return part[0][1] if part else []


def _count(part):
    return len(part)


def _with_side(rdd, side, func, *args, name):
    """Partition ``i`` is ``func(*args, side's only partition, rdd's partition i)``."""
    layer = {(name, i): Task((name, i), func, *args, TaskRef((side.name, 0)), TaskRef((rdd.name, i)))
             for i in range(rdd.npartitions)}
    return rdd._new(name, layer, [rdd, side], partitioner=rdd.partitioner)


def _key_none_one(_record):
    return (None, 1)


def _add(a, b):
    return a + b


def _singleton(v):
    return [v]


def _concat(a, b):
    return a + b


