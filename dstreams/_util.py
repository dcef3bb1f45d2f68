"""Small helpers shared across the package: durations, batch times and user-function arity."""
from __future__ import annotations

import datetime as _dt
import inspect
import numbers

Duration = "float | int | datetime.timedelta"


def to_ms(duration, what: str = "duration") -> int:
    """Convert seconds (int/float) or a ``timedelta`` to whole milliseconds.

    Raises a ``TypeError``/``ValueError`` naming ``what`` when the value is not a usable duration.
    """
    if isinstance(duration, _dt.timedelta):
        ms = duration.total_seconds() * 1000.0
    elif isinstance(duration, numbers.Real) and not isinstance(duration, bool):
        ms = float(duration) * 1000.0
    else:
        raise TypeError(
            f"{what} must be a number of seconds or a datetime.timedelta, got {duration!r} "
            f"({type(duration).__name__}); for example 2 or timedelta(seconds=2)"
        )
    rounded = int(round(ms))
    if rounded <= 0:
        raise ValueError(f"{what} must be positive (at least 1 ms), got {duration!r}; use for example 1.0")
    if abs(ms - rounded) > 1e-6:
        raise ValueError(f"{what} {duration!r} is not a whole number of milliseconds; round it to 1 ms")
    return rounded


def fmt_ms(ms: int) -> str:
    """Human form of a duration in ms: '2s', '1.5s', '200ms'."""
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    if ms >= 1000:
        return f"{ms / 1000:g}s"
    return f"{ms}ms"


def ms_to_datetime(ms: int) -> _dt.datetime:
    """A batch time in ms since the epoch as a naive local ``datetime``, as PySpark passes it."""
    return _dt.datetime.fromtimestamp(ms / 1000.0)


def time_to_ms(t) -> int:
    """Accept a batch time as ms (int) or a ``datetime`` and return ms."""
    if isinstance(t, _dt.datetime):
        return int(round(t.timestamp() * 1000))
    if isinstance(t, numbers.Integral):
        return int(t)
    raise TypeError(f"a batch time must be a datetime or integer milliseconds, got {t!r}")


def positional_arity(func) -> int | None:
    """Number of positional parameters ``func`` accepts, or None when it takes ``*args`` or is unknown."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    n = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            n += 1
    return n


def call_with_optional_time(func, time_ms: int, *args):
    """Call ``func(*args)`` or ``func(time, *args)`` depending on how many arguments it takes."""
    if positional_arity(func) == len(args) + 1:
        return func(ms_to_datetime(time_ms), *args)
    return func(*args)


def describe(func) -> str:
    """Name and definition site of a user function, for error messages."""
    name = getattr(func, "__qualname__", None) or repr(func)
    code = getattr(func, "__code__", None)
    if code is not None:
        return f"{name} ({code.co_filename}:{code.co_firstlineno})"
    return name


class Records(list):
    """A partition's records: a plain ``list`` in every way, returned by dstreams' tasks.

    It exists for Dask's communication layer, which sends an object whose type is exactly ``list``
    element by element (distributed issue 6368): moving a 10,000-record partition between processes took
    about 0.3 s that way, and about 0.03 s as this subclass, which is pickled in one piece.
    """

    __slots__ = ()


def as_records(part) -> Records:
    """``part`` as :class:`Records`: itself when it is one, else its items in a new one."""
    return part if type(part) is Records else Records(part)
