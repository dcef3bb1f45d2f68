"""A plain-Python reference of event-time windowing: what dstreams' event-time operators must emit."""
from __future__ import annotations

import math


def reference(batches, window, slide, max_delay, allowed_lateness=0, mode="final", idle_timeout=None,
              func=lambda a, b: a + b, batch=1):
    """``batches``: per batch, a list of partitions, each a list of ``(key, event time s, value)``.

    Returns per batch: the emitted records (as dstreams' ``reduce_by_key_and_event_window``), the late
    ``(key, value)`` records and the watermark after the batch (seconds, or None). Durations in seconds.
    """
    w, s, d, late_s = (round(x * 1000) for x in (window, slide or window, max_delay, allowed_lateness))
    idle = None if idle_timeout is None else round(idle_timeout * 1000)
    maxima, seen = {}, {}
    wm = -math.inf
    windows = {}
    out = []
    for k, parts in enumerate(batches, start=1):
        t = k * round(batch * 1000)
        before = wm
        emitted, late, changed = [], [], set()
        for p, part in enumerate(parts):
            for key, ts, value in part:
                ms = ts * 1000.0
                maxima[p] = max(maxima.get(p, -math.inf), ms)
                seen[p] = t
                if ms < before - late_s:
                    late.append((key, value))
                    continue
                start = math.floor(ms / s) * s
                while start + w > ms:
                    win = (key, start, start + w)
                    windows[win] = func(windows[win], value) if win in windows else value
                    changed.add(win)
                    start -= s
        active = [m for p, m in maxima.items() if idle is None or t - seen[p] <= idle]
        if active:
            wm = max(wm, min(active) - d)
        for win in sorted(windows, key=repr):
            key, start, end = win
            final = end + late_s <= wm
            shown = (key, start / 1000.0, end / 1000.0)
            if mode == "final" and final:
                emitted.append((shown, windows[win]))
            elif mode == "update" and (final or win in changed):
                emitted.append((shown, windows[win], final))
            if final:
                del windows[win]
        out.append((emitted, late, None if wm == -math.inf else wm / 1000.0))
    return out
