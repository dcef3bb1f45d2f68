"""Stateful operators: update_state_by_key and map_with_state.

The state RDD of batch ``t`` is built from the state RDD of ``t - slide`` and the new records of ``t``.
Each state RDD is persisted, so the graph of a batch reads the previous state from the cluster instead
of recomputing its whole history.
"""
from __future__ import annotations

import functools

from .._util import to_ms
from ..rdd import RDD
from .base import DStream

DEFAULT_CHECKPOINT_MS = 10_000


def default_checkpoint(stream) -> None:
    """Streams whose lineage grows with time are data-checkpointed by default, as in Spark: every
    smallest multiple of the slide that is at least 10 s."""
    if stream.checkpoint_ms is None:
        slide = stream.slide_ms
        stream.checkpoint_ms = -(-DEFAULT_CHECKPOINT_MS // slide) * slide


class _StatefulBase(DStream):
    needs_checkpoint = True

    def __init__(self, parent, num_partitions):
        super().__init__(parent.ssc, [parent])
        if num_partitions is not None and (not isinstance(num_partitions, int) or num_partitions < 1):
            raise ValueError(f"num_partitions must be a positive integer, got {num_partitions!r}")
        self.num_partitions = num_partitions
        self.persist()

    def initialize(self, zero_time):
        default_checkpoint(self)
        self.remember_ms = max(self.remember_ms or 0, 2 * self.slide_ms)
        super().initialize(zero_time)

    def validate_at_start(self):
        super().validate_at_start()
        self._require_checkpoint_dir(f"{self.op}: it keeps state across batches")

    def _partitions(self, *rdds):
        return self.num_partitions or max(1, *(r.npartitions for r in rdds if r is not None))

    def previous_state(self, t):
        prev_t = t - self.slide_ms
        return self.get_or_compute(prev_t) if prev_t > self.zero_time else None


def _update_partition(update_func, part):
    out = []
    for key, (states, values) in part:
        last = states[0] if states else None
        new = update_func(values, last)
        if new is not None:
            out.append((key, new))
    return out


class StateDStream(_StatefulBase):
    """update_state_by_key: ``update_func(new_values, last_state)`` per key, every batch."""

    op = "update-state-by-key"

    def __init__(self, parent, update_func, num_partitions=None, initial_rdd=None):
        super().__init__(parent, num_partitions)
        self.update_func = update_func
        self.initial_rdd = initial_rdd

    def compute(self, t):
        new = self.dependencies[0].get_or_compute(t)
        prev = self.previous_state(t)
        if prev is None:
            prev = self.initial_rdd if self.initial_rdd is not None else RDD.empty(
                self.ssc.client, name=self.rdd_name(t, "no-state"))
        if new is None:
            new = RDD.empty(self.ssc.client, name=self.rdd_name(t, "no-input"))
        name = self.rdd_name(t)
        grouped = prev.cogroup(new, num_partitions=self._partitions(prev, new), name=f"{name}-cogroup")
        return grouped._per_partition("update", _update_partition, self.update_func, name=name,
                                      keep_partitioner=True)


# ---------------------------------------------------------------------------------------------
# map_with_state


class State:
    """The state of one key inside a ``map_with_state`` function (Spark's ``State``).

    ``exists()``, ``get()``, ``update(value)``, ``remove()``, ``is_timing_out()``.
    """

    __slots__ = ("_value", "_exists", "_updated", "_removed", "_timing_out")

    def __init__(self, value=None, exists=False, timing_out=False):
        self._value, self._exists = value, exists
        self._updated = self._removed = False
        self._timing_out = timing_out

    def exists(self) -> bool:
        return self._exists

    def get(self):
        if not self._exists:
            raise KeyError("State.get(): this key has no state; check state.exists() first")
        return self._value

    def get_option(self, default=None):
        return self._value if self._exists else default

    def update(self, value) -> None:
        if self._removed:
            raise RuntimeError("State.update(): the state was removed in this call")
        if self._timing_out:
            raise RuntimeError("State.update(): cannot update a state that is timing out")
        self._value, self._exists, self._updated = value, True, True

    def remove(self) -> None:
        if self._timing_out:
            raise RuntimeError("State.remove(): cannot remove a state that is timing out; it is removed anyway")
        if self._removed:
            raise RuntimeError("State.remove(): the state was already removed")
        self._exists, self._removed, self._value = False, True, None

    def is_timing_out(self) -> bool:
        return self._timing_out

    def __repr__(self):
        return f"State({self._value!r})" if self._exists else "State(<none>)"


class StateSpec:
    """What ``map_with_state`` needs: the function and optional settings (Spark's ``StateSpec``).

    Examples
    --------
    >>> def track(key, value, state):
    ...     total = (state.get() if state.exists() else 0) + (value or 0)
    ...     state.update(total)
    ...     return key, total
    >>> spec = StateSpec.function(track).timeout(60).num_partitions(4)
    """

    def __init__(self, func):
        if not callable(func):
            raise TypeError(f"StateSpec.function() needs a callable (key, value, state), got {func!r}")
        self.func = func
        self.initial_rdd = None
        self.partitions = None
        self.timeout_ms = None

    @classmethod
    def function(cls, func) -> StateSpec:
        """A spec for ``func(key, value, state)``, which returns the mapped record."""
        return cls(func)

    def initial_state(self, rdd) -> StateSpec:
        """Start from the ``(key, state)`` pairs of ``rdd``."""
        self.initial_rdd = rdd
        return self

    def num_partitions(self, n: int) -> StateSpec:
        self.partitions = n
        return self

    def timeout(self, duration) -> StateSpec:
        """Keys with no record for ``duration`` are called once with ``value=None`` and removed."""
        self.timeout_ms = to_ms(duration, "StateSpec.timeout")
        return self


def _seed_state(part):
    # (key, state) -> (key, (state, last_update_ms)) with "never" as the update time
    return [(k, (v, None)) for k, v in part]


def _map_with_state_partition(func, t, timeout_ms, part):
    """One partition of (key, ([(state, updated)], [values])) -> [(new state entries, mapped records)]."""
    states, mapped = [], []
    for key, (old, values) in part:
        value, updated = old[0] if old else (None, None)
        exists = bool(old)
        if updated is None:
            updated = t
        for v in values:
            st = State(value, exists)
            mapped.append(func(key, v, st))
            value, exists = st._value, st._exists
            if st._updated or st._removed:
                updated = t
        if values and exists and timeout_ms is not None:
            updated = t  # with a timeout, a key is idle only while it receives no record (as in Spark)
        if not values and exists and timeout_ms is not None and updated < t - timeout_ms:
            st = State(value, True, timing_out=True)
            mapped.append(func(key, None, st))
            exists = False
        if exists:
            states.append((key, (value, updated)))
    return [(states, mapped)]


def _first_of_pair(part):
    return part[0][0]


def _second_of_pair(part):
    return part[0][1]


def _drop_time(part):
    return [(k, v) for k, (v, _t) in part]


class _MapWithStateCore(_StatefulBase):
    """Per batch, one record per partition: (that partition's state entries, its mapped records)."""

    op = "map-with-state-core"

    def __init__(self, parent, spec: StateSpec):
        if not isinstance(spec, StateSpec):
            raise TypeError(
                f"map_with_state() needs a StateSpec, got {type(spec).__name__}; "
                "use StateSpec.function(func) where func(key, value, state) returns a record"
            )
        super().__init__(parent, spec.partitions)
        self.spec = spec
        self.states: dict[int, RDD] = {}

    def compute(self, t):
        # the persisted RDD of this stream holds one record per partition: (state entries, mapped)
        new = self.dependencies[0].get_or_compute(t)
        prev = self.previous_state(t)
        name = self.rdd_name(t)
        if prev is None:
            init = self.spec.initial_rdd
            prev_state = (init._per_partition("seed", _seed_state, name=f"{name}-seed") if init is not None
                          else RDD.empty(self.ssc.client, name=f"{name}-no-state"))
        else:
            prev_state = prev._per_partition("states", _first_of_pair, name=f"{name}-prev-states",
                                             keep_partitioner=True)
        if new is None:
            new = RDD.empty(self.ssc.client, name=f"{name}-no-input")
        grouped = prev_state.cogroup(new, num_partitions=self._partitions(prev_state, new),
                                     name=f"{name}-cogroup")
        fn = functools.partial(_map_with_state_partition, self.spec.func, t, self.spec.timeout_ms)
        return grouped._per_partition("map-with-state", fn, name=name, keep_partitioner=True)



class _Projection(DStream):
    def __init__(self, parent, op, func, drop_time):
        self.op = op
        super().__init__(parent.ssc, [parent])
        self.func, self.drop_time = func, drop_time

    def compute(self, t):
        rdd = self.dependencies[0].get_or_compute(t)
        if rdd is None:
            return None
        name = self.rdd_name(t)
        out = rdd._per_partition(self.op, self.func, name=f"{name}-raw" if self.drop_time else name)
        return out._per_partition("drop-time", _drop_time, name=name) if self.drop_time else out


class MapWithStateDStream(_Projection):
    """The records returned by the ``map_with_state`` function; ``state_snapshots()`` gives the state."""

    def __init__(self, parent, spec: StateSpec):
        super().__init__(_MapWithStateCore(parent, spec), "map-with-state", _second_of_pair, False)
        self.inner_streams = ((self.dependencies[0], ".state"),)

    def state_snapshots(self) -> DStream:
        """A stream of every key's current ``(key, state)`` after each batch."""
        return _Projection(self.dependencies[0], "state-snapshots", _first_of_pair, True)
