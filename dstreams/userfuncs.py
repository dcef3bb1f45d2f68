"""The user's code as errors show it: functions, call sites and traceback frames.

- ``describe(func)`` is ``"parse (wordcount.py:5)"``, ``defined_at(func)`` is ``"parse at wordcount.py:5"``;
  paths under the working directory are shown relative to it.
- ``call_site()`` is the user's line that called into dstreams, and which dstreams function it called.
- ``user_frames(exc)`` are the frames of a traceback in the user's code, innermost first, and
  ``covers(func, filename, line)`` tells whether a line is inside a function's definition.
- ``keep_file_names(func)``: the function, and the functions of the user's code it calls, keep their
  real file names when cloudpickle copies them by value (see ``_compat.keep_code_file``), so tracebacks
  from workers and from recovered checkpoints show them instead of ``<dynamic-code>``.
- ``unpicklable(func)`` says what in a function cannot be pickled, or None.

Nothing here raises: it builds messages about other errors.
"""
from __future__ import annotations

import functools
import os
import sys
import types

from . import _compat

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_LIBRARY_DIRS: tuple[str, ...] | None = None

#: code objects of dstreams' decorator wrappers: never "the function the user called" (see call_site)
WRAPPER_CODES: set = set()
#: code objects of wrappers that say themselves which function the user called: ``code -> name(frame)``
#: (the PySpark facade's methods, which all share one code object)
CALL_NAMES: dict = {}


@functools.lru_cache(maxsize=4096)
def in_package(filename: str) -> bool:
    """Whether ``filename`` is one of dstreams' own files."""
    return os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep)


@functools.lru_cache(maxsize=4096)
def is_library_file(filename: str) -> bool:
    """Whether ``filename`` belongs to dstreams, an installed package or the standard library (not the user's)."""
    import sysconfig

    global _LIBRARY_DIRS
    if _LIBRARY_DIRS is None:
        paths = sysconfig.get_paths()
        _LIBRARY_DIRS = tuple({_PACKAGE_DIR, paths["stdlib"], paths["purelib"], paths["platlib"]})
    if filename.startswith("<frozen"):
        return True
    path = os.path.abspath(filename)
    return any(path.startswith(d + os.sep) for d in _LIBRARY_DIRS)


def short_path(filename: str) -> str:
    """``filename`` relative to the working directory when it is under it, else as it is."""
    try:
        if filename.startswith("<"):
            return filename
        cwd = os.getcwd()
        path = os.path.abspath(filename)
        if path.startswith(cwd + os.sep):
            return os.path.relpath(path, cwd)
    except (OSError, ValueError):
        pass
    return filename


def _function(obj):
    """The Python function behind ``obj`` (itself, a partial's or a bound method's), or None."""
    for _ in range(8):
        if isinstance(obj, types.FunctionType):
            wrapped = obj.__dict__.get("__wrapped__")
            if wrapped is None or not is_library_file(obj.__code__.co_filename):
                return obj
            obj = wrapped  # dstreams' own wrapper of the user's function (functools.wraps)
        elif isinstance(obj, functools.partial):
            obj = obj.func
        elif isinstance(obj, types.MethodType):
            obj = obj.__func__
        elif callable(obj) and not isinstance(obj, type) and isinstance(type(obj).__call__, types.FunctionType):
            obj = type(obj).__call__  # an instance of the user's class with a __call__ method
        else:
            return None
    return None


def _name(obj) -> str:
    """``parse``, ``Parser.parse``, ``partial(parse)``, or the class of a callable object."""
    if isinstance(obj, functools.partial):
        return f"partial({_name(obj.func)})"
    try:
        name = obj.__qualname__
    except Exception:  # noqa: BLE001 - an object without one, or whose __getattr__ raises
        name = None
    if not isinstance(name, str):
        name = type(obj).__qualname__
    return name


def _definition(func) -> str | None:
    """``"wordcount.py:5"``: where the function behind ``func`` is defined, or None."""
    inner = _function(func)
    if inner is None:
        return None
    return f"{short_path(inner.__code__.co_filename)}:{inner.__code__.co_firstlineno}"


def describe(func) -> str:
    """``"parse (wordcount.py:5)"``: name and definition site of a user function, for error messages."""
    where = _definition(func)
    return f"{_name(func)} ({where})" if where else _name(func)


def defined_at(func) -> str:
    """``"parse at wordcount.py:5"``: as :func:`describe`, worded to follow "the function"."""
    where = _definition(func)
    return f"{_name(func)} at {where}" if where else _name(func)


def is_user_function(func) -> bool:
    """Whether ``func`` (or the function a partial or method wraps) is defined in the user's code."""
    inner = _function(func)
    return inner is not None and not is_library_file(inner.__code__.co_filename)


def call_site():
    """``(called, filename, line)``: the user's line that called into dstreams (the innermost frame of the
    stack outside dstreams), and the name of the dstreams function it called; Nones when there is none."""
    called = None
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if not in_package(code.co_filename):
            return called, code.co_filename, frame.f_lineno
        if code in CALL_NAMES:
            try:
                called = CALL_NAMES[code](frame)
            except Exception:  # noqa: BLE001 - the inner name then
                pass
        elif code not in WRAPPER_CODES:
            called = code.co_name
        frame = frame.f_back
    return called, None, None


def user_frames(exc: BaseException) -> list:
    """The frames (``traceback.FrameSummary``) of ``exc``'s traceback in the user's code, innermost first."""
    import traceback

    try:
        frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ is not None else []
    except Exception:  # noqa: BLE001 - a traceback rebuilt from another process may be odd
        return []
    return [f for f in reversed(frames) if not is_library_file(f.filename)]


def frame_text(frame) -> str:
    """``"explode (app.py:36)"`` for a traceback frame."""
    return f"{frame.name} ({short_path(frame.filename)}:{frame.lineno})"


@functools.lru_cache(maxsize=1024)
def _line_span(code) -> tuple[int, int]:
    first = last = code.co_firstlineno
    for c in _codes(code):
        for _, _, line in c.co_lines():
            if line is not None and line > last:
                last = line
    return first, last


def _codes(code):
    """``code`` and the code objects nested in it (lambdas, inner functions, comprehensions)."""
    out, stack = [], [code]
    while stack:
        c = stack.pop()
        out.append(c)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return out


def covers(func, filename: str, line: int | None) -> bool:
    """Whether line ``line`` of ``filename`` is in the definition of ``func`` (a function, partial or method)."""
    inner = _function(func)
    if inner is None or line is None:
        return False
    code = inner.__code__
    if os.path.abspath(code.co_filename) != os.path.abspath(filename):
        return False
    first, last = _line_span(code)
    return first <= line <= last


@functools.lru_cache(maxsize=1024)
def _global_names(code) -> tuple[str, ...]:
    return tuple({name for c in _codes(code) for name in c.co_names})


def _reached(obj, limit: int = 200) -> list:
    """The user's functions ``obj`` is or wraps, and those they reach through globals and closures."""
    stack, seen, out = [obj], set(), []
    while stack and len(out) < limit:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, functools.partial):
            stack.append(o.func)
            stack.extend(o.args)
            stack.extend(o.keywords.values())
        elif isinstance(o, types.MethodType):
            stack.append(o.__func__)
        elif isinstance(o, types.FunctionType) and is_library_file(o.__code__.co_filename):
            if "__wrapped__" in o.__dict__:  # dstreams' own wrapper of the user's function
                stack.append(o.__dict__["__wrapped__"])
        elif isinstance(o, types.FunctionType):
            out.append(o)
            g = o.__globals__
            stack.extend(v for v in (g.get(n) for n in _global_names(o.__code__))
                         if isinstance(v, (types.FunctionType, functools.partial)))
            for cell in o.__closure__ or ():
                try:
                    v = cell.cell_contents
                except ValueError:  # an empty cell
                    continue
                if isinstance(v, (types.FunctionType, functools.partial, types.MethodType)):
                    stack.append(v)
    return out


def keep_file_names(obj) -> None:
    """Make ``obj`` (a user function, or a partial or bound method of one) and the user's functions it calls
    keep their file names when cloudpickle copies them by value (see ``_compat.keep_code_file``)."""
    if isinstance(obj, types.FunctionType) and _compat.has_code_file(obj):
        return  # cheap for a function met again (each batch): it and what it reaches were done
    try:
        for f in _reached(obj):
            _compat.keep_code_file(f)
    except Exception:  # noqa: BLE001 - only tracebacks are at stake: never fail an operator for it
        pass


def keep_file_names_of(args) -> None:
    """:func:`keep_file_names` for the functions among ``args`` (a task's arguments)."""
    for a in args:
        if isinstance(a, (types.FunctionType, functools.partial, types.MethodType)):
            keep_file_names(a)


def unpicklable(obj, dumps=None, _depth: int = 0):
    """None when ``obj`` pickles (with ``dumps``, cloudpickle's by default); else ``(path, error)``: what in
    it does not, from ``obj`` inwards (``["the global 'lock' it uses (a _thread.lock)"]``, empty when it
    is ``obj`` itself), and the error that pickling it raised."""
    if dumps is None:
        import cloudpickle

        dumps = cloudpickle.dumps
    try:
        dumps(obj)
        return None
    except Exception as e:  # noqa: BLE001 - whatever pickling raises is the answer
        error = e
    if _depth < 3:
        for what, part in _parts(obj):
            inner = unpicklable(part, dumps, _depth + 1)
            if inner is not None:
                return [f"{what} ({_a(part)})", *inner[0]], inner[1]
    return [], error


def _a(obj) -> str:
    if isinstance(obj, (types.FunctionType, types.MethodType, functools.partial)):
        return f"the function {describe(obj)}"
    return f"a {type(obj).__module__}.{type(obj).__qualname__}" if type(obj).__module__ != "builtins" \
        else f"a {type(obj).__qualname__}"


def _parts(obj):
    """``(what, value)`` for what ``obj`` refers to and would be pickled with it."""
    try:
        if isinstance(obj, functools.partial):
            yield from ((f"the partial's argument {i}", a) for i, a in enumerate(obj.args))
            yield from ((f"the partial's argument {k!r}", v) for k, v in obj.keywords.items())
            yield "the partial's function", obj.func
        elif isinstance(obj, types.MethodType):
            yield "the object it is a method of", obj.__self__
            yield "the method's function", obj.__func__
        elif isinstance(obj, types.FunctionType):
            code = obj.__code__
            for name, cell in zip(code.co_freevars, obj.__closure__ or (), strict=False):
                try:
                    yield f"the variable {name!r} it uses from its enclosing function", cell.cell_contents
                except ValueError:
                    continue
            g = obj.__globals__
            for name in sorted(_global_names(code)):
                if name in g and not isinstance(g[name], types.ModuleType):
                    yield f"the global {name!r} it uses", g[name]
            for value in obj.__defaults__ or ():
                yield "a default argument value", value
        elif isinstance(obj, dict):
            for name, value in obj.items():
                yield f"its {name!r}", value
        elif not isinstance(obj, type) and hasattr(obj, "__dict__"):
            for name, value in vars(obj).items():
                yield f"its attribute {name!r}", value
    except Exception:  # noqa: BLE001 - an odd object: the whole error is still reported
        return
