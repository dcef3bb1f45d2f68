"""How the facade renames: a table entry maps one PySpark method onto one dstreams call.

An :class:`Entry` holds PySpark's signature (``"reduceByKey(func, numPartitions=None)"``) and the dstreams
call it becomes, written as a call over PySpark's parameter names (``"reduce_by_key(f=func,
num_partitions=numPartitions)"``). :func:`method` turns an entry into a method of a facade class: it binds
the caller's arguments by PySpark's signature, passes on those the caller gave (and PySpark's defaults that
are not None), unwraps facade objects into dstreams ones, and wraps what comes back. The same entries render
the table of PySpark names in the programming guide (``python -m dstreams.pyspark.names``), so the table
cannot drift from the code.
"""
from __future__ import annotations

import ast
import functools
import inspect

from .. import userfuncs
from ..shuffle import portable_hash

#: names a PySpark signature's defaults may use
_DEFAULTS = {"portable_hash": portable_hash}


class Entry:
    """One PySpark name: its signature, the dstreams call it becomes, and how it differs (``note``).

    ``call`` is None for a member the facade class writes by hand (``target`` then says what it uses).
    """

    def __init__(self, signature: str, call: str | None, note: str = "", target: str | None = None):
        self.signature_text, self.call_text, self.note = signature, call, note
        tree = ast.parse(f"def {signature if '(' in signature else signature + '()'}: pass").body[0]
        self.name = tree.name
        self.params = _parse_params(tree)
        self.target = target or (call.split("(", 1)[0] if call else "")
        self.args, self.kwargs = _parse_call(call) if call else ((), ())

    @property
    def signature(self) -> inspect.Signature:
        return inspect.Signature([inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *self.params])


def _parse_params(tree) -> list[inspect.Parameter]:
    a, P = tree.args, inspect.Parameter
    defaults = [None] * (len(a.args) - len(a.defaults)) + list(a.defaults)
    out = []
    for arg, default in zip(a.args, defaults, strict=True):
        value = P.empty if default is None else eval(compile(ast.Expression(default), "<sig>", "eval"), dict(_DEFAULTS))
        out.append(P(arg.arg, P.POSITIONAL_OR_KEYWORD, default=value))
    if a.vararg is not None:
        out.append(P(a.vararg.arg, P.VAR_POSITIONAL))
    return out


def _parse_call(text: str):
    call = ast.parse(text, mode="eval").body

    def one(node):
        if isinstance(node, ast.Starred):
            return ("*", node.value.id, None)
        if isinstance(node, ast.Call):  # an adapter: rdd_fn(func)
            return ("", node.args[0].id, node.func.id)
        return ("", node.id, None)

    args = tuple(one(n) for n in call.args)
    kwargs = tuple((k.arg, *one(k.value)[1:]) for k in call.keywords)
    return args, kwargs


# -- values crossing the facade ----------------------------------------------------------------
def wrap(value):
    """dstreams objects as facade objects (an RDD, a DStream, a list of RDDs); anything else as it is."""
    from ..dstream.base import DStream as _DStream
    from ..rdd import RDD as _RDD
    from .dstream import DStream
    from .rdd import RDD

    if isinstance(value, _RDD):
        return RDD(value)
    if isinstance(value, _DStream):
        return DStream(value)
    if isinstance(value, list) and value and all(isinstance(v, _RDD) for v in value):
        return [RDD(v) for v in value]
    return value


def unwrap(value):
    """Facade objects as the dstreams objects they hold (in lists and tuples too)."""
    inner = getattr(value, "_dstreams_object", None)
    if inner is not None:
        return inner
    if isinstance(value, (list, tuple)) and any(hasattr(v, "_dstreams_object") for v in value):
        return [unwrap(v) for v in value]
    return value


def rdd_fn(func):
    """``func`` called with facade RDDs (and lists of them) in place of dstreams RDDs, its RDD result unwrapped.

    The wrapper keeps ``func``'s signature (``__wrapped__``), so ``func(rdd)`` and ``func(time, rdd)`` are told
    apart as before.
    """
    if not callable(func):
        return func  # dstreams names the mistake

    def call(*args):
        return unwrap(func(*(wrap(a) for a in args)))

    return functools.update_wrapper(call, func)


_ADAPTERS = {"rdd_fn": rdd_fn}


def method(entry: Entry, attribute: str):
    """The facade method of ``entry`` on a class whose dstreams object is ``self.<attribute>``."""
    sig = entry.signature
    defaults = {p.name: p.default for p in entry.params}

    def value(bound, name, adapter):
        v = unwrap(bound[name])
        return _ADAPTERS[adapter](v) if adapter else v

    def run(self, *args, **kwargs):
        try:
            bound = sig.bind(self, *args, **kwargs).arguments
        except TypeError as e:
            raise TypeError(f"{entry.name}{inspect.signature(run)}: {e}") from None
        # what the caller gave, and PySpark's defaults that are not None (dstreams' defaults cover the rest)
        for name, default in defaults.items():
            if name not in bound and default is not inspect.Parameter.empty and default is not None:
                bound[name] = default
        positional = []
        for star, name, adapter in entry.args:
            if name not in bound:
                break
            positional.extend(unwrap(list(bound[name])) if star else [value(bound, name, adapter)])
        keywords = {k: value(bound, name, adapter) for k, name, adapter in entry.kwargs if name in bound}
        target = getattr(getattr(self, attribute), entry.target)
        return wrap(target(*positional, **keywords))

    run.__name__ = run.__qualname__ = entry.name
    run.__signature__ = sig
    userfuncs.CALL_NAMES.setdefault(run.__code__, _called)  # streams are made by the user's PySpark call
    run.__doc__ = f"PySpark's ``{entry.signature_text}``: dstreams' ``{entry.call_text}``." + (
        f"\n\n{entry.note}" if entry.note else "")
    return run


def _called(frame) -> str:
    """The PySpark name a frame of a facade method runs: the call that made a stream, for messages."""
    return frame.f_locals["entry"].name


def install(cls, entries, attribute: str):
    """Add a method per table entry (those with a call) to facade class ``cls``."""
    for entry in entries:
        if entry.call_text is not None:
            setattr(cls, entry.name, method(entry, attribute))
    cls._entries = {e.name: e for e in entries}
    return cls


def missing(cls, name: str):
    """The AttributeError for a name the facade class does not have."""
    return AttributeError(
        f"{cls.__name__!r} of dstreams.pyspark has no attribute {name!r}: it is not part of PySpark's streaming "
        f"API that dstreams maps; use .{cls._attribute} for the dstreams object and its snake_case API")
