"""DStream: a recipe that, given a batch time, produces the RDD of that batch.

Shared behaviour lives once in :class:`~dstreams.dstream.core.DStreamCore` (time validation, caching
generated RDDs, remember durations, persistence, data checkpoints, names); DStream adds the fluent
methods here, each one line that builds a tiny subclass from a sibling module (one per operator family).
"""
from __future__ import annotations

import functools
import inspect

from .. import userfuncs
from .._util import checked, function, partitions, positive, text, to_ms
from ..shuffle import portable_hash
from .core import DStreamCore, _same_name


def fluent(on_driver=(), **checks):
    """Decorate a fluent method: its arguments are checked when it is called (see ``_util.checked``),
    and when it fails, the streams it created on the way are taken out of the graph again.

    The user's functions among its arguments are recorded on the streams it makes (``user_functions``;
    those named in ``on_driver`` run on the driver, the others are sent to the workers), so that a failure
    names the call, and ``start()`` refuses a function the workers could not receive.
    """
    def wrap(method):
        inner = checked(**checks)(method)
        sig = inspect.signature(method)

        @functools.wraps(method)
        def run(self, *args, **kwargs):
            graph = self.ssc.runtime.graph
            with graph.atomic():
                before = len(graph.streams)
                out = inner(self, *args, **kwargs)
                functions = _user_functions(sig.bind(self, *args, **kwargs).arguments, on_driver)
                for stream in graph.streams[before:] if functions else ():
                    stream.add_user_functions(functions)
            if isinstance(out, DStreamCore) and _same_name(out.origin[0], method.__name__):
                out.own_call = True  # what the user's call returned, though another operator made it
            return out

        run.__checks__ = checks
        userfuncs.WRAPPER_CODES.add(run.__code__)
        return run

    return wrap


def _initial_state(value, what):
    """An RDD of ``(key, state)`` pairs, a list of them (made an RDD, as PySpark does) or None."""
    from ..rdd import RDD

    if value is None or isinstance(value, RDD):
        return value
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError(f"{what} must be an RDD of (key, state) pairs, a list of them or None, got "
                    f"{type(value).__name__}; for example ssc.parallelize([('a', 0)])")


def _user_functions(arguments: dict, on_driver) -> list[tuple]:
    """``(function, on_driver)`` for each of the user's functions among a call's ``arguments``."""
    out = []
    for name, value in list(arguments.items())[1:]:  # after self
        for v in value if isinstance(value, tuple) else (value,):  # *others
            if isinstance(v, _s.StateSpec):
                v = v.func
            if not isinstance(v, DStreamCore) and userfuncs.is_user_function(v):
                out.append((v, name in on_driver))
    return out


_record_fn = function(("record",))


def _ms(allow_zero=False, optional=False):
    """A check for :func:`fluent`: a duration, made whole milliseconds (None allowed when ``optional``)."""
    def check(value, what):
        return None if value is None and optional else to_ms(value, what, allow_zero=allow_zero)
    return check
_reduce_fn = function(("a", "b"))
_inverse_fn = function(("a", "b"), optional=True)


class DStream(DStreamCore):
    """A discretized stream: a sequence of RDDs, one per batch interval (or slide).

    Subclasses set :attr:`dependencies` and :attr:`slide_ms` and implement :meth:`compute`.
    """

    def context(self):
        """The :class:`~dstreams.StreamingContext` this stream belongs to (Spark's ``DStream.context()``).

        Examples
        --------
        >>> ssc.queue_stream([[1]]).context() is ssc  # doctest: +SKIP
        True
        """
        return self.ssc

    # -- fluent API: each is one line that builds a small subclass --------------------------
    @fluent(f=_record_fn)
    def map(self, f):
        """Apply ``f`` to every record: ``stream.map(lambda x: x * 2)``."""
        return _t.PerRDD(self, "map", lambda rdd, name: rdd.map(f, name=name))

    @fluent(f=_record_fn)
    def flat_map(self, f):
        """Apply ``f`` to every record and flatten: ``lines.flat_map(str.split)``."""
        return _t.PerRDD(self, "flat-map", lambda rdd, name: rdd.flat_map(f, name=name))

    @fluent(f=_record_fn)
    def filter(self, f):
        """Keep the records for which ``f`` is true: ``words.filter(str.isalpha)``."""
        return _t.PerRDD(self, "filter", lambda rdd, name: rdd.filter(f, name=name))

    @fluent(f=function(("iterator",)))
    def map_partitions(self, f):
        """Apply ``f(iterator)`` to each partition of each batch."""
        return _t.PerRDD(self, "map-partitions", lambda rdd, name: rdd.map_partitions(f, name=name))

    @fluent(f=function(("index", "iterator")))
    def map_partitions_with_index(self, f):
        """Apply ``f(index, iterator)`` to each partition of each batch."""
        return _t.PerRDD(self, "map-partitions-with-index",
                         lambda rdd, name: rdd.map_partitions_with_index(f, name=name))

    @fluent()
    def glom(self):
        """One record per partition: the list of its records."""
        return _t.PerRDD(self, "glom", lambda rdd, name: rdd.glom(name=name))

    @fluent(num_partitions=partitions(optional=False))
    def repartition(self, num_partitions: int):
        """Spread each batch evenly over ``num_partitions`` partitions."""
        return _t.PerRDD(self, "repartition", lambda rdd, name: rdd.repartition(num_partitions, name=name))

    @fluent(num_partitions=partitions(optional=False), partition_func=function(("key",)))
    def partition_by(self, num_partitions: int, partition_func=portable_hash):
        """Send each ``(key, value)`` record of each batch to partition ``partition_func(key) % num_partitions``.

        Examples
        --------
        >>> pairs.partition_by(4)  # doctest: +SKIP
        """
        return _t.PerRDD(self, "partition-by",
                         lambda rdd, name: rdd.partition_by(num_partitions, partition_func, name=name))

    @fluent()
    def union(self, *others):
        """The records of this stream and ``others`` (same slide duration) in each batch."""
        return _t.UnionDStream([self, *others])

    @fluent()
    def count(self):
        """A stream of one record per batch: the number of records in it."""
        return _t.PerRDD(self, "count", lambda rdd, name: _t.count_rdd(rdd, name))

    @fluent(f=_reduce_fn)
    def reduce(self, f):
        """A stream of one record per batch (none if empty): its records reduced with ``f``."""
        return _t.PerRDD(self, "reduce", lambda rdd, name: _t.reduce_rdd(rdd, f, name))

    @fluent(num_partitions=partitions())
    def count_by_value(self, num_partitions=None):
        """A stream of ``(record, count)`` pairs per batch."""
        return self.map(_t.pair_with_one).reduce_by_key(_t.add, num_partitions)

    @fluent(f=function(("value",)))
    def map_values(self, f):
        """Apply ``f`` to the value of every ``(key, value)`` pair."""
        return _t.PerRDD(self, "map-values", lambda rdd, name: rdd.map_values(f, name=name))

    @fluent(f=function(("value",)))
    def flat_map_values(self, f):
        """Apply ``f`` to every value, emitting one pair per item it returns."""
        return _t.PerRDD(self, "flat-map-values", lambda rdd, name: rdd.flat_map_values(f, name=name))

    @fluent(f=_reduce_fn, num_partitions=partitions())
    def reduce_by_key(self, f, num_partitions=None):
        """Merge the values of each key in each batch with ``f``: ``pairs.reduce_by_key(operator.add)``."""
        return _t.PerRDD(self, "reduce-by-key", lambda rdd, name: rdd.reduce_by_key(f, num_partitions, name=name))

    @fluent(num_partitions=partitions())
    def group_by_key(self, num_partitions=None):
        """``(key, [values])`` per key in each batch."""
        return _t.PerRDD(self, "group-by-key", lambda rdd, name: rdd.group_by_key(num_partitions, name=name))

    @fluent(create_combiner=function(("value",)), merge_value=function(("combiner", "value")),
             merge_combiners=_reduce_fn, num_partitions=partitions())
    def combine_by_key(self, create_combiner, merge_value, merge_combiners, num_partitions=None):
        """Spark's generic per-key aggregation in each batch."""
        return _t.PerRDD(self, "combine-by-key", lambda rdd, name: rdd.combine_by_key(
            create_combiner, merge_value, merge_combiners, num_partitions, name=name))

    @fluent(num_partitions=partitions())
    def join(self, other, num_partitions=None):
        """Inner join of each batch with the same batch of ``other``."""
        return _t.PerRDD2(self, other, "join", lambda a, b, name: a.join(b, num_partitions, name=name))

    @fluent(num_partitions=partitions())
    def left_outer_join(self, other, num_partitions=None):
        """Left outer join of each batch with the same batch of ``other``."""
        return _t.PerRDD2(self, other, "left-outer-join",
                          lambda a, b, name: a.left_outer_join(b, num_partitions, name=name))

    @fluent(num_partitions=partitions())
    def right_outer_join(self, other, num_partitions=None):
        """Right outer join of each batch with the same batch of ``other``."""
        return _t.PerRDD2(self, other, "right-outer-join",
                          lambda a, b, name: a.right_outer_join(b, num_partitions, name=name))

    @fluent(num_partitions=partitions())
    def full_outer_join(self, other, num_partitions=None):
        """Full outer join of each batch with the same batch of ``other``."""
        return _t.PerRDD2(self, other, "full-outer-join",
                          lambda a, b, name: a.full_outer_join(b, num_partitions, name=name))

    @fluent(num_partitions=partitions())
    def cogroup(self, other, num_partitions=None):
        """``(key, ([values here], [values in other]))`` for each key of each batch."""
        return _t.PerRDD2(self, other, "cogroup",
                          lambda a, b, name: a.cogroup(b, num_partitions=num_partitions, name=name))

    @fluent(on_driver=("func",), func=function(("rdd",), ("time", "rdd")))
    def transform(self, func):
        """Apply ``func(rdd)`` or ``func(time, rdd)`` on the driver to build each batch's RDD."""
        return _t.TransformedDStream([self], func)

    @fluent(on_driver=("func",), func=function(("rdd", "other_rdd"), ("time", "rdd", "other_rdd")))
    def transform_with(self, other, func):
        """Apply ``func(rdd, other_rdd)`` or ``func(time, rdd, other_rdd)`` to build each batch."""
        return _t.TransformedDStream([self, other], func)

    # windows
    @fluent()
    def window(self, window_duration, slide_duration=None):
        """All records of the last ``window_duration``, every ``slide_duration`` (default: this slide)."""
        return _w.WindowedDStream(self, window_duration, slide_duration)

    @fluent()
    def count_by_window(self, window_duration, slide_duration=None):
        """The number of records in each window."""
        return self.map(_t.one).reduce_by_window(_t.add, _t.sub, window_duration, slide_duration)

    @fluent(reduce_func=_reduce_fn, inv_reduce_func=_inverse_fn)
    def reduce_by_window(self, reduce_func, inv_reduce_func=None, window_duration=None, slide_duration=None):
        """Each window's records reduced with ``reduce_func`` (incrementally with an inverse)."""
        return _w.reduce_by_window(self, reduce_func, inv_reduce_func, window_duration, slide_duration)

    @fluent(func=_reduce_fn, inv_func=_inverse_fn, num_partitions=partitions(),
             filter_func=function(("pair",), optional=True))
    def reduce_by_key_and_window(self, func, inv_func=None, window_duration=None, slide_duration=None,
                                 num_partitions=None, filter_func=None):
        """Per-key reduce over a sliding window; with ``inv_func`` it is computed incrementally."""
        return _w.reduce_by_key_and_window(self, func, inv_func, window_duration, slide_duration,
                                           num_partitions, filter_func)

    @fluent(num_partitions=partitions())
    def count_by_value_and_window(self, window_duration, slide_duration=None, num_partitions=None):
        """``(record, count)`` over a sliding window."""
        return self.map(_t.pair_with_one).reduce_by_key_and_window(
            _t.add, _t.sub, window_duration, slide_duration, num_partitions, _t.value_not_zero)

    @fluent(num_partitions=partitions())
    def group_by_key_and_window(self, window_duration, slide_duration=None, num_partitions=None):
        """``(key, [values])`` over a sliding window."""
        return self.window(window_duration, slide_duration).group_by_key(num_partitions)

    # state
    @fluent(update_func=function(("new_values", "last_state")), num_partitions=partitions(),
            initial_rdd=_initial_state)
    def update_state_by_key(self, update_func, num_partitions=None, initial_rdd=None):
        """Keep a state per key: ``update_func(new_values, last_state)`` returns the new state or None.

        ``initial_rdd`` holds the ``(key, state)`` pairs to start from: an RDD, or a list of pairs.
        """
        if isinstance(initial_rdd, list):
            initial_rdd = self.ssc.parallelize(initial_rdd)
        return _s.StateDStream(self, update_func, num_partitions, initial_rdd)

    @fluent()
    def map_with_state(self, spec):
        """Map each record with a per-key ``State`` (see :class:`dstreams.StateSpec`)."""
        return _s.MapWithStateDStream(self, spec)

    # event time
    @fluent(timestamp_func=_record_fn, max_delay=_ms(allow_zero=True), idle_timeout=_ms(optional=True))
    def with_event_time(self, timestamp_func, max_delay, idle_timeout=None):
        """An event-time stream: ``timestamp_func(record)`` gives each record's event time in seconds.

        Its watermark is, per input partition (a Kafka partition, say), the largest event time seen minus
        ``max_delay``; the stream's watermark is the minimum over the partitions, leaving out those that had
        no record for longer than ``idle_timeout`` (batch time); it never moves backwards. Window with
        :meth:`~dstreams.dstream.eventtime.EventDStream.reduce_by_key_and_event_window` and its family; see
        the "Event time" guide. It keeps state, so it needs ``ssc.checkpoint(directory)``.

        Examples
        --------
        >>> events = stream.with_event_time(lambda r: r.timestamp / 1000, max_delay=10)  # doctest: +SKIP
        >>> counts = events.map(lambda r: (r.key, 1)).reduce_by_key_and_event_window(
        ...     operator.add, window=60)  # doctest: +SKIP
        """
        return _et.EventTimeSource(self, timestamp_func, max_delay, idle_timeout)

    # output operations
    @fluent(on_driver=("func",), func=function(("rdd",), ("time", "rdd")))
    def foreach_rdd(self, func):
        """Run ``func(rdd)`` or ``func(time, rdd)`` on the driver for every batch (an output operation)."""
        return _o.ForEachDStream(self, func, "foreach_rdd")

    @fluent(num=positive)
    def pprint(self, num: int = 10):
        """Print the first ``num`` records of every batch (an output operation)."""
        return _o.pprint(self, num)

    @fluent()
    def to_kafka(self, topic, producer_params, transactional=False, group_id=None, transactional_id_prefix=None):
        """Write every batch to a Kafka topic (an output operation); see :func:`dstreams.kafka.write`.

        With ``transactional=True`` each batch's output and its input offsets are committed together, so
        the output is exactly once for ``read_committed`` readers.
        """
        from ..sources.kafka.output import to_kafka  # the core stays Kafka-free

        return to_kafka(self, topic, producer_params, transactional, group_id, transactional_id_prefix)

    @fluent(prefix=text)
    def save_as_text_files(self, prefix: str, suffix: str | None = None):
        """Save each batch as text files under ``prefix-TIME_IN_MS[.suffix]`` (an output operation)."""
        return _o.save_as_files(self, prefix, suffix, "save_as_text_file")

    @fluent(prefix=text)
    def save_as_pickle_files(self, prefix: str, suffix: str | None = None):
        """Save each batch under ``prefix-TIME_IN_MS[.suffix]``, a pickled list of records per partition (an
        output operation; see :meth:`RDD.save_as_pickle_file`).

        Examples
        --------
        >>> counts.save_as_pickle_files("out/counts", "pkl")  # doctest: +SKIP
        """
        return _o.save_as_files(self, prefix, suffix, "save_as_pickle_file")


from . import eventtime as _et  # noqa: E402
from . import output as _o  # noqa: E402
from . import stateful as _s  # noqa: E402
from . import transformed as _t  # noqa: E402
from . import windowed as _w  # noqa: E402
