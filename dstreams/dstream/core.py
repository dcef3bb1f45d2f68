"""DStreamCore: what every DStream shares, whatever its operator.

A stream registers in its context's graph, generates the RDD of a batch time once and caches it
(validating the time against its slide), remembers generated RDDs as long as it and its children
need them, persists them when asked, saves data checkpoints and reads them back after recovery, is
named and snapshotted for an upgraded application, and pickles as its recipe for metadata
checkpoints. :class:`dstreams.DStream` (in ``base.py``) adds the fluent operator methods on top; each
operator family is a tiny subclass in a sibling module.
"""
from __future__ import annotations

import functools
import re
import threading

from .. import userfuncs
from .._names import camel_case_hint
from .._util import fmt_ms, ms_to_datetime, time_to_ms, to_ms
from ..dashboard import html as _html

_NAME = re.compile(r"[A-Za-z0-9._-]{1,80}")


class DStreamCore:
    """The shared behaviour of every :class:`~dstreams.DStream` (its base class, not used alone).

    Subclasses set :attr:`dependencies` and :attr:`slide_ms` and implement :meth:`compute`.
    """

    #: short operator name used in task keys and messages
    op = "dstream"

    def __init_subclass__(cls, **kwargs):
        # a stream whose __init__ raises (bad arguments) is taken out of the graph again
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def checked_init(self, *args, **kw):
            try:
                init(self, *args, **kw)
            except BaseException:
                graph = getattr(getattr(getattr(self, "ssc", None), "runtime", None), "graph", None)
                if graph is not None:
                    graph.unregister(self)
                raise

        cls.__init__ = checked_init
        userfuncs.WRAPPER_CODES.add(checked_init.__code__)

    def __init__(self, ssc, dependencies=()):
        self.ssc = ssc
        #: the user's call that made this stream: (the dstreams function called, file, line)
        self.origin = userfuncs.call_site()
        #: the user's functions given to that call, as (function, runs on the driver)
        self.user_functions: list[tuple] = []
        #: True when this stream is what the user's call returned (a source, map's stream), False when
        #: the call made it inside itself (the reduce_by_key in a reduce_by_key_and_window)
        self.own_call = bool(getattr(self, "is_input", False)) or _same_name(self.origin[0], self.op)
        self.dependencies = list(dependencies)
        for d in self.dependencies:
            if not isinstance(d, DStreamCore):
                raise TypeError(f"{self.op}: expected a DStream, got {d!r} ({type(d).__name__}); pass a stream "
                                "made by this StreamingContext")
            if d.ssc is not ssc:
                raise ValueError(
                    f"{self.op}: cannot combine streams of two StreamingContexts (stream {d.label} belongs to "
                    "another context); build every stream of a graph from one context"
                )
        self.id = ssc.runtime.graph.register(self)
        self.generated: dict[int, object] = {}
        self.zero_time: int | None = None
        self.remember_ms: int | None = None
        self.must_persist = False
        self.checkpoint_ms: int | None = None
        self.data_checkpoints: dict[int, tuple] = {}  # time -> (directory, npartitions, partitioner)
        # times whose RDD this stream persisted itself: only these does it unpersist. A stream may hold
        # its parent's persisted RDD (an output operation, an identity transform); releasing that one
        # would pull the data from under the parent's other users, such as a window over it
        self._owned: set[int] = set()
        self._lock = threading.RLock()
        self.name = f"{self.op}-{self.id}"
        self.explicit_name = False  # True once named(): snapshots of an upgraded application match by it

    @_html.text_repr
    def __repr__(self):
        name = self.__dict__.get("name")  # None on a stream whose __init__ failed early
        return f"<DStream '{name}'>" if name else "<DStream>"  # never an internal class name (PerRDD)

    def __getattr__(self, name):
        # only for attributes the stream does not have
        hint = camel_case_hint(self, name)
        who = f"DStream '{self.__dict__['name']}'" if "name" in self.__dict__ else "DStream"
        raise AttributeError(f"{who} has no attribute {name!r}" + (f": {hint}" if hint else ""))

    @_html.html_repr
    def _repr_html_(self):
        """Its name, slide, remember and checkpoint intervals, and its lineage as a table, sources first."""
        return _html.dstream_html(self)

    # -- pickling for metadata checkpoints: the recipe, not the generated data ----------------
    _transient = ("ssc", "generated", "_owned", "_lock")

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in self._transient}

    def __setstate__(self, state):
        self.__dict__.update({"origin": (None, None, None), "user_functions": [], "own_call": False})  # older
        self.__dict__.update(state)
        self.ssc = None
        self.generated = {}
        self._owned = set()
        self._lock = threading.RLock()

    # -- names and where the user made the stream --------------------------------------------
    @property
    def call_site(self) -> str | None:
        """``"map at wordcount.py:12"``: the user's call that made this stream (None when not known)."""
        called, filename, line = self.origin
        if filename is None:
            return None
        return f"{called or self.op} at {userfuncs.short_path(filename)}:{line}"

    @property
    def label(self) -> str:
        """How messages name this stream: ``"'map-2' (map at wordcount.py:12)"``, or for a stream that the
        user's call made inside itself ``"'reduce-by-key-3' (made by reduce_by_key_and_window at app.py:9)"``."""
        site = self.call_site
        if site is None:
            return f"'{self.name}'"
        return f"'{self.name}' ({site})" if self.own_call else f"'{self.name}' (made by {site})"

    def add_user_functions(self, functions) -> None:
        """Record the user's functions given to the call that made this stream: ``(function, on_driver)``."""
        for func, on_driver in functions:
            if not any(f is func for f, _ in self.user_functions):
                self.user_functions.append((func, on_driver))

    # -- names and snapshots ---------------------------------------------------------------
    def named(self, name: str):
        """Give this stream a stable name, returned for chaining: ``counts.named("totals")``.

        A new version of the application resumes each source and stateful stream from the checkpoint
        by this name (see :meth:`StreamingContext.get_or_create` with ``upgrade=True``); it also names
        the stream's data checkpoints, task keys and messages. Names are letters, digits, ``.``, ``_``
        and ``-``, unique in the context.
        """
        self._require_not_started("named()")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"named(): a stream name is 1 to 80 letters, digits, '.', '_' or '-', got {name!r}; "
                             "for example 'word-totals'")
        other = next((s for s in self.ssc.runtime.graph.streams if s.name == name and s is not self), None)
        if other is not None:
            raise ValueError(f"named(): the name {name!r} is taken by another stream of this context, "
                             f"{other.label}; give each stream its own name")
        self.name, self.explicit_name = name, True
        for inner, suffix in self.inner_streams:  # the stateful stream inside this operator, if any
            inner.named(f"{name}{suffix}")
        return self

    #: streams an operator made inside itself, as (stream, name suffix): they are named with it
    inner_streams: tuple = ()

    def lineage(self) -> str:
        """The operators from the sources to this stream, e.g. ``"update-state-by-key(map(direct-kafka))"``:
        an unnamed stream is resumed from a snapshot only where its lineage is the same."""
        if not self.dependencies:
            return self.op
        return f"{self.op}({', '.join(d.lineage() for d in self.dependencies)})"

    def state_snapshot(self) -> dict:
        """Where this stateful stream's data checkpoints are, as JSON (see :mod:`dstreams.snapshot`)."""
        from ..shuffle import HashPartitioner

        with self._lock:
            saved = dict(self.data_checkpoints)
        return {"checkpoints": {
            str(t): {"path": path, "npartitions": n,
                     "hash_partitions": p.num_partitions if isinstance(p, HashPartitioner) else None}
            for t, (path, n, p) in sorted(saved.items())}}

    def restore_state(self, snapshot: dict, time_ms: int) -> None:
        """Resume from the data checkpoint of ``time_ms`` in ``snapshot`` (made by :meth:`state_snapshot`)."""
        from ..shuffle import HashPartitioner

        saved = snapshot["checkpoints"].get(str(time_ms))
        if saved is None:  # the state starts empty: the old application had not saved it yet
            return
        k = saved["hash_partitions"]
        self.data_checkpoints = {time_ms: (saved["path"], saved["npartitions"], HashPartitioner(k) if k else None)}

    # -- the recipe ------------------------------------------------------------------------
    @property
    def slide_ms(self) -> int:
        """Interval between the RDDs of this stream, in ms (a multiple of the batch interval)."""
        return self.dependencies[0].slide_ms

    @property
    def slide_duration(self) -> float:
        return self.slide_ms / 1000.0

    def compute(self, time_ms: int):
        """Build (never run) the RDD for ``time_ms``, or return None when there is none."""
        raise NotImplementedError

    def rdd_name(self, time_ms: int, op: str | None = None) -> str:
        """Readable graph name, unique per batch: ``f"{op}-{stream_id}-{batch_ms}-{run}"``.

        ``run`` is a short id of this context's run, so two contexts (or a recovered driver) sharing a
        cluster never reuse each other's keys.
        """
        return f"{op or self.op}-{self.id}-{time_ms}-{self.ssc.run_id}"

    def is_time_valid(self, time_ms: int) -> bool:
        if self.zero_time is None:
            raise RuntimeError(f"{self!r} has not been initialized: start the StreamingContext first")
        return time_ms > self.zero_time and (time_ms - self.zero_time) % self.slide_ms == 0

    def get_or_compute(self, time_ms: int):
        """The RDD of ``time_ms``, generated once and cached until cleared."""
        with self._lock:
            if time_ms in self.generated:
                return self.generated[time_ms]
            if not self.is_time_valid(time_ms):
                return None
            if time_ms in self.data_checkpoints:  # after recovery: read the saved data, not the lineage
                from ..checkpoint import read_rdd

                path, n, partitioner = self.data_checkpoints[time_ms]
                rdd = read_rdd(path, n, self.ssc.client, self.rdd_name(time_ms, "checkpointed"), partitioner,
                               self.ssc.checkpoint_key)
            else:
                rdd = self.compute(time_ms)
            if rdd is not None and self.must_persist and not getattr(rdd, "is_persisted", False):
                rdd = rdd.persist()
                self._owned.add(time_ms)
            self.generated[time_ms] = rdd
            return rdd

    def _release(self, time_ms: int, rdd) -> None:
        """Unpersist the RDD of ``time_ms`` if this stream persisted it (call with the lock held)."""
        if time_ms in self._owned:
            self._owned.discard(time_ms)
            rdd.unpersist()

    # -- graph life cycle ------------------------------------------------------------------
    def initialize(self, zero_time: int) -> None:
        if self.zero_time is not None and self.zero_time != zero_time:
            raise RuntimeError(f"{self!r} was initialized twice with different zero times")
        self.zero_time = zero_time
        self.remember_ms = max(self.remember_ms or 0, self.slide_ms)
        for d in self.dependencies:
            d.remember(self.parent_remember_ms())
            d.initialize(zero_time)

    def remember(self, duration_ms: int | None) -> None:
        """Keep generated RDDs at least ``duration_ms`` (and make parents keep what this needs)."""
        if duration_ms is not None and (self.remember_ms is None or duration_ms > self.remember_ms):
            self.remember_ms = duration_ms
        if self.zero_time is not None:  # before start, initialize() propagates
            for d in self.dependencies:
                d.remember(self.parent_remember_ms())

    def parent_remember_ms(self) -> int | None:
        """How long parents must remember their RDDs for this stream: its own remember duration, and
        with data checkpoints twice their interval, so that recovery can recompute this stream from
        its parents back to its last saved RDD (as in Spark)."""
        return self._with_checkpoint_lineage(self.remember_ms)

    def _with_checkpoint_lineage(self, ms):
        return ms if self.checkpoint_ms is None else max(ms, 2 * self.checkpoint_ms)

    def validate_at_start(self) -> None:
        """Refuse a badly configured stream when the context starts (override to add checks)."""
        if self.checkpoint_ms is not None and self.checkpoint_ms % self.slide_ms:
            raise ValueError(
                f"checkpoint interval {fmt_ms(self.checkpoint_ms)} of stream {self.label} is not a "
                f"multiple of its slide {fmt_ms(self.slide_ms)}; use a multiple such as "
                f"{fmt_ms(self.slide_ms * max(1, round(self.checkpoint_ms / self.slide_ms)))}"
            )

    def data_checkpoint_job(self, t: int):
        """The job that saves this stream's RDD of ``t`` to the checkpoint directory, when one is due."""
        from .output import Job

        if self.checkpoint_ms is None or self.ssc.checkpoint_dir is None:
            return None
        if (t - self.zero_time) % self.checkpoint_ms or self.generated.get(t) is None:
            return None
        rdd = self.generated[t]
        path = f"{self.ssc.checkpoint_dir.rstrip('/')}/data/{self.name}/{t}"

        def save():
            from ..checkpoint import read_rdd, write_rdd

            write_rdd(rdd, path, self.ssc.checkpoint_key)
            # later batches build on the saved copy: a lost worker's data is then recomputed from these
            # files, not from the whole history (the lineage is cut here)
            saved = read_rdd(path, rdd.npartitions, self.ssc.client, self.rdd_name(t, "checkpointed"),
                             rdd.partitioner, self.ssc.checkpoint_key).persist()
            with self._lock:
                self.data_checkpoints[t] = (path, rdd.npartitions, rdd.partitioner)
                if self.generated.get(t) is rdd:
                    self._release(t, rdd)
                    self.generated[t] = saved
                    self._owned.add(t)
                else:
                    saved.unpersist()

        return Job(t, -1 - self.id, f"data checkpoint of stream {self.label}", save, stream=self)

    def clear_metadata(self, time_ms: int) -> None:
        """Forget RDDs older than the remember duration, releasing persisted data."""
        with self._lock:
            old = [t for t in self.generated if t <= time_ms - self.remember_ms]
            for t in old:
                self._release(t, self.generated.pop(t))
            saved = sorted(self.data_checkpoints)
            stale = [t for t in saved[:-1] if t <= time_ms - self.remember_ms]  # keep the newest one
            for t in stale:  # deleted once no kept metadata checkpoint refers to it
                self.ssc.runtime.graph.retire_data_checkpoint(self.data_checkpoints.pop(t)[0])
        for d in self.dependencies:
            d.clear_metadata(time_ms)

    def stop(self) -> None:
        """Release everything generated (called when the context stops)."""
        with self._lock:
            for t, rdd in self.generated.items():
                self._release(t, rdd)
            self.generated.clear()

    # -- checks used by the fluent methods -------------------------------------------------
    def _check_duration(self, duration, what: str) -> int:
        ms = to_ms(duration, f"{what} of stream {self.label}")
        if ms % self.slide_ms:
            mult = self.slide_ms * max(1, round(ms / self.slide_ms))
            of = "the batch interval" if getattr(self, "is_input", False) else "its slide interval"
            raise ValueError(
                f"{what} {fmt_ms(ms)} of stream {self.label} is not a multiple of {of} "
                f"{fmt_ms(self.slide_ms)}; use a multiple such as {fmt_ms(mult)}"
            )
        return ms

    def _require_checkpoint_dir(self, what: str) -> None:
        """Refuse to start a stream whose lineage grows with time without a checkpoint directory."""
        if self.ssc.checkpoint_dir is None:
            raise ValueError(
                f"stream {self.label} needs a checkpoint directory, as in Spark ({what}); call "
                "ssc.checkpoint('/some/dir') before start()"
            )

    def _require_not_started(self, what: str) -> None:
        self.ssc.runtime.graph.require_not_started(what)

    # -- persistence and checkpoints -------------------------------------------------------
    def persist(self, storage_level=None):
        """Keep each generated RDD on the cluster, so several operations on it compute it once."""
        self._require_not_started("persist()")
        self.must_persist = True
        return self

    def cache(self):
        """Same as :meth:`persist`."""
        return self.persist()

    def checkpoint(self, interval):
        """Checkpoint this stream's RDDs every ``interval`` (a multiple of its slide duration).

        Saving data checkpoints needs ``ssc.checkpoint(directory)``; stateful streams use it to
        bound their lineage. On an operator with a stateful stream inside (``map_with_state``,
        ``reduce_by_window`` with an inverse), it sets the interval of that stream, as in Spark.
        """
        self._require_not_started("checkpoint()")
        if self.inner_streams:
            for inner, _ in self.inner_streams:
                inner.checkpoint(interval)
            return self
        self.checkpoint_ms = self._check_duration(interval, "checkpoint interval")
        self.persist()
        return self

    def slice(self, begin, end) -> list:
        """The RDDs generated for the batch times in ``[begin, end]`` (datetimes or ms)."""
        b, e = time_to_ms(begin), time_to_ms(end)
        if self.zero_time is None:
            raise RuntimeError("slice() needs a started StreamingContext")
        if b > e:
            raise ValueError(f"slice() begin {ms_to_datetime(b)} is after end {ms_to_datetime(e)}")
        first = self.zero_time + ((b - self.zero_time + self.slide_ms - 1) // self.slide_ms) * self.slide_ms
        out = []
        t = max(first, self.zero_time + self.slide_ms)
        while t <= e:
            rdd = self.get_or_compute(t)
            if rdd is not None:
                out.append(rdd)
            t += self.slide_ms
        return out


def _same_name(called: str | None, op: str) -> bool:
    """Whether the dstreams function ``called`` makes streams of operator ``op`` ("flat_map", "flat-map")."""
    def norm(text):
        return text.replace("_", "").replace("-", "").lower()

    return called is not None and norm(called) == norm(op)
