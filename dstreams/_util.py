"""Small helpers shared across the package: durations, batch times, user-function arity and the checks
that refuse bad arguments where they are written."""
from __future__ import annotations

import datetime as _dt
import functools
import inspect
import math
import numbers

from . import userfuncs as _userfuncs

Duration = "float | int | datetime.timedelta | str"

#: the longest duration accepted (batch interval, window, timeout): a year
MAX_DURATION_MS = 366 * 24 * 3600 * 1000
#: the most partitions a batch may be cut into: each is a Dask task per batch
MAX_PARTITIONS = 100_000


def _seconds(duration, what: str) -> float:
    """Seconds in a number, a ``timedelta`` or one of Dask's duration strings (``"500ms"``, ``"2s"``)."""
    if isinstance(duration, _dt.timedelta):
        return duration.total_seconds()
    if isinstance(duration, numbers.Real) and not isinstance(duration, bool):
        return float(duration)
    if isinstance(duration, str):
        from dask.utils import parse_timedelta

        try:
            return float(parse_timedelta(duration, default="seconds"))
        except (ValueError, KeyError, IndexError, OverflowError, TypeError) as e:
            raise ValueError(f"{what} {duration!r} is not a duration Dask can read; write it as for example "
                             "'500ms', '2s' or '1 minute'") from e
    raise TypeError(
        f"{what} must be a number of seconds, a datetime.timedelta or a string such as '2s', got {duration!r} "
        f"({type(duration).__name__}); for example 2, timedelta(seconds=2) or '2s'"
    )


def to_ms(duration, what: str = "duration", allow_zero: bool = False) -> int:
    """Convert seconds (int/float), a ``timedelta`` or a Dask duration string (``"500ms"``, ``"2s"``,
    ``"1 minute"``, read by ``dask.utils.parse_timedelta``) to whole milliseconds.

    Raises a ``TypeError``/``ValueError`` naming ``what`` when the value is not a usable duration: not
    finite, over a year, not a whole number of milliseconds, or not positive (zero is accepted with
    ``allow_zero``).
    """
    ms = _seconds(duration, what) * 1000.0
    if not math.isfinite(ms) or ms > MAX_DURATION_MS:
        raise ValueError(f"{what} must be a finite number of seconds up to a year, got {duration!r}; "
                         "use for example 1.0")
    rounded = int(round(ms))
    if rounded < 0 or (rounded == 0 and not allow_zero):
        least = "0 or more" if allow_zero else "positive (at least 1 ms)"
        raise ValueError(f"{what} must be {least}, got {duration!r}; use for example 1.0")
    if abs(ms - rounded) > 1e-6:
        raise ValueError(f"{what} {duration!r} is not a whole number of milliseconds; round it to 1 ms")
    return rounded


def to_seconds(duration, what: str = "timeout") -> float:
    """Seconds (``>= 0``, finite, up to a year) in a number, a ``timedelta`` or a Dask duration string: for
    timeouts, which need not be whole milliseconds."""
    seconds = _seconds(duration, what)
    if not math.isfinite(seconds) or seconds < 0 or seconds * 1000 > MAX_DURATION_MS:
        raise ValueError(f"{what} must be a finite number of seconds from 0 up to a year, got {duration!r}; "
                         "use for example 10 or '10s'")
    return seconds


def python_version() -> str:
    """``major.minor`` of this Python: checkpoints record it."""
    import sys

    return f"{sys.version_info.major}.{sys.version_info.minor}"


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


def check_count(n, what: str, optional: bool = False, maximum: int | None = None, hint: str = ""):
    """``n`` if it is a positive integer (at most ``maximum``; None when ``optional``); else a clear error."""
    if n is None and optional:
        return None
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise TypeError(f"{what} must be a positive integer{' or None' if optional else ''}, got {n!r} "
                        f"({type(n).__name__}); for example 4")
    if n < 1 or (maximum is not None and n > maximum):
        bounds = f"between 1 and {maximum:,}" if maximum is not None else "at least 1"
        raise ValueError(f"{what} must be {bounds}, got {n!r}{hint}")
    return int(n)


def check_partitions(n, what: str = "num_partitions", optional: bool = False):
    """``n`` if it is a usable partition count (or None when ``optional``); else a clear error."""
    return check_count(n, what, optional, MAX_PARTITIONS,
                       "; a partition is a Dask task in every batch: use about 1 to 4 per worker thread")


def check_function(func, what: str, arities=None, optional: bool = False):
    """``func`` if it is callable (and, with ``arities``, accepts one of those numbers of positional
    arguments); else an error naming ``what``, what was given and what to give."""
    if func is None and optional:
        return None
    shapes = " or ".join(f"({', '.join(a)})" for a in arities.values()) if arities else ""
    if not callable(func):
        raise TypeError(f"{what} must be a function{' of ' + shapes if shapes else ''}, got {func!r} "
                        f"({type(func).__name__}); pass a function or a lambda")
    if arities and not _accepts(func, arities):
        raise TypeError(f"{what} must be a function of {shapes}, but {describe(func)} takes "
                        f"{positional_arity(func)} positional arguments")
    return func


def _accepts(func, arities) -> bool:
    """Whether ``func`` can be called with one of ``arities`` positional arguments (defaults count)."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return True
    for n in arities:
        try:
            sig.bind(*range(n))
            return True
        except TypeError:
            pass
    return False


def checked(**checks):
    """Decorate a public method so that its named arguments are checked when it is called.

    Each check is ``check(value, what)`` and returns the value (possibly normalized) or raises.
    """
    def wrap(method):
        sig = inspect.signature(method)

        @functools.wraps(method)
        def run(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            for name, check in checks.items():
                if name in bound.arguments:
                    bound.arguments[name] = check(bound.arguments[name], f"{method.__name__}(): {name}")
            return method(*bound.args, **bound.kwargs)

        run.__checks__ = checks
        _userfuncs.WRAPPER_CODES.add(run.__code__)  # the user called the method, not this wrapper
        return run

    return wrap


def function(*arities, optional=False):
    """A check for :func:`checked`: a function taking one of ``arities`` (tuples of parameter names).

    The function is made to keep its file name when cloudpickle copies it (see ``userfuncs.keep_file_names``).
    """
    table = {len(a): a for a in arities}

    def check(f, what):
        f = check_function(f, what, table or None, optional)
        if f is not None:
            _userfuncs.keep_file_names(f)
        return f

    return check


def partitions(optional=True):
    """A check for :func:`checked`: a partition count (None allowed when ``optional``)."""
    return lambda n, what: check_partitions(n, what, optional)


def positive(n, what):
    """A check for :func:`checked`: a positive integer."""
    return check_count(n, what)


def non_negative(n, what):
    """A check for :func:`checked`: a whole number ``>= 0`` (a count that may be 0)."""
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise TypeError(f"{what} must be a whole number >= 0, got {n!r} ({type(n).__name__}); for example 10")
    if n < 0:
        raise ValueError(f"{what} must be a whole number >= 0, got {n!r}; for example 10")
    return int(n)


def flag(value, what):
    """A check for :func:`checked`: ``True`` or ``False`` (a string such as ``"no"`` is not taken as true)."""
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be True or False, got {value!r} ({type(value).__name__})")
    return value


def text(value, what):
    """A check for :func:`checked`: a non-empty string (a path, URL or name)."""
    if not isinstance(value, str) or not value.strip():
        raise (TypeError if not isinstance(value, str) else ValueError)(
            f"{what} must be a non-empty string, got {value!r}; for example '/tmp/app-checkpoint'")
    return value


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
    """Name and definition site of a user function, for error messages: ``"parse (wordcount.py:5)"``."""
    return _userfuncs.describe(func)


def user_frame(exc: BaseException) -> str | None:
    """Where in the user's code ``exc`` was raised: ``"explode (app.py:36)"`` for the innermost frame of
    its traceback outside dstreams, Dask and the standard library (None when there is none)."""
    frames = _userfuncs.user_frames(exc)
    return _userfuncs.frame_text(frames[0]) if frames else None


def describe_failure(exc: BaseException) -> str:
    """``"ValueError: bad record 1, in explode (app.py:36)"``: the error and the user's line it came from."""
    where = user_frame(exc)
    text = exception_text(exc)
    return f"{text}, in {where}" if where else text


def exception_text(exc: BaseException) -> str:
    """``"ValueError: bad record 1"``: the last line of ``exc``'s traceback (and its notes), never raising."""
    import traceback

    try:
        return "".join(traceback.format_exception_only(type(exc), exc)).strip()
    except Exception:  # noqa: BLE001 - an exception whose str() raises
        return type(exc).__name__


def in_task(exc: BaseException) -> BaseException:
    """``exc``, marked with the key of the Dask task that raises it (``exc.task_key``, kept when it travels to
    the driver): for the errors dstreams itself raises in tasks, where no frame of the user's code tells which
    stream it was (see ``dstream.usercode.explain``)."""
    try:
        from distributed import get_worker

        exc.task_key = get_worker().get_current_task()
    except Exception:  # noqa: BLE001 - not in a worker's task (a local compute): no key to tell
        pass
    return exc


class Records(list):
    """A partition's records: a plain ``list`` in every way, returned by dstreams' tasks.

    It exists for Dask's communication layer, which sends an object whose type is exactly ``list``
    element by element (distributed issue 6368); this subclass is pickled in one piece, which is much
    faster for partitions of many records (see docs/performance.md).
    """

    __slots__ = ()


def as_records(part) -> Records:
    """``part`` as :class:`Records`: itself when it is one, else its items in a new one."""
    return part if type(part) is Records else Records(part)
