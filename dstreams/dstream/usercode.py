"""The user's code in a stream graph: which of the user's calls a failure came from, and the functions
that could not be sent to the workers.

Every stream knows the user's call that made it (``stream.call_site``, ``"map at wordcount.py:12"``) and
the functions given to that call (``stream.user_functions``). A failed job's error is matched to them by
its traceback: the innermost frame of the user's code that lies inside one of those functions names the
call, so ``explain`` says ``"ValueError: ..., in parse (wordcount.py:7), in map at wordcount.py:12 (the
function parse at wordcount.py:5)"``, whichever output operation ran it.
"""
from __future__ import annotations

import re

from .._util import exception_text
from ..userfuncs import covers, defined_at, describe, frame_text, unpicklable, user_frames


def upstream(stream) -> list:
    """``stream`` and the streams it is built from, nearest first."""
    out, seen, level = [], set(), [stream]
    while level:
        nxt = []
        for s in level:
            if id(s) not in seen:
                seen.add(id(s))
                out.append(s)
                nxt.extend(s.dependencies)
        level = nxt
    return out


def explain(exc: BaseException, streams, own=None) -> str:
    """The failure reason of ``exc`` raised by a job over ``streams``: the error, the user's line that
    raised it, and the user's call whose function that line is in (left out when it is ``own``'s, the
    output operation the reason is given for, which is named already)."""
    parts = [exception_text(exc)]
    try:
        frames = user_frames(exc)
        if frames:
            parts.append(f"in {frame_text(frames[0])}")
        calls = _calls(frames, streams, own) or _task_call(getattr(exc, "task_key", None), streams, own)
        if calls:
            parts.append("in " + " or ".join(calls))
    except Exception:  # noqa: BLE001 - the reason of a failure must not fail itself
        pass
    return ", ".join(parts)


def _calls(frames, streams, own) -> list[str]:
    """``["map at app.py:12 (the function parse at app.py:5)"]``: the calls whose functions hold the
    innermost frame that any of them holds (several when streams share the function)."""
    for frame in frames:
        found = []
        for s in streams:
            for func, _ in getattr(s, "user_functions", ()):
                if covers(func, frame.filename, frame.lineno):
                    if s is own:
                        return []
                    text = f"{s.call_site or repr(s.name)} (the function {defined_at(func)})"
                    if text not in found:
                        found.append(text)
        if found:
            return found
    return []


#: a task key's name: ``f"{op}-{stream id}-{batch ms}-{run id}"`` (``DStreamCore.rdd_name``), and a suffix
_TASK_NAME = re.compile(r"(?P<op>.+?)-(?P<id>\d+)-(?P<time>\d+)-(?P<run>[0-9a-f]+)(?:-.*)?")


def _task_call(key, streams, own) -> list[str]:
    """``["reduce_by_key at app.py:12"]``: the user's call that made the stream whose task ``key`` is."""
    name = key[0] if isinstance(key, tuple) and key else key
    match = _TASK_NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        return []
    for s in streams:
        if s.id == int(match["id"]) and getattr(s.ssc, "run_id", None) == match["run"]:
            return [] if s is own else [s.call_site or f"stream {s.label}"]
    return []


def check_picklable(graph) -> None:
    """Refuse to start when a function that runs on the workers cannot be pickled: Dask pickles each
    batch's tasks with the functions in them, also for an in-process cluster."""
    seen = set()
    for stream in graph.streams:
        for func, on_driver in getattr(stream, "user_functions", ()):
            if on_driver or id(func) in seen:
                continue
            seen.add(id(func))
            problem = unpicklable(func)
            if problem is not None:
                raise ValueError(
                    f"stream {stream.label}: the function {describe(func)} cannot be sent to the workers: "
                    f"{not_picklable(*problem)}. Create such objects inside the function (a connection: "
                    "use a dstreams.ConnectionPool), or refer only to data that can be pickled"
                ) from problem[1]


def not_picklable(path, error) -> str:
    """``"the global 'lock' it uses (a _thread.lock) cannot be pickled (TypeError: ...)"``."""
    what = ", ".join(path) if path else "it"
    return f"{what} cannot be pickled ({exception_text(error)})"
