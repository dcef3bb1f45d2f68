"""Bad arguments are refused where they are written, with a message naming the argument.

Each public call is tried with values hypothesis draws from what is wrong for that kind of argument; the
call must raise TypeError or ValueError naming the argument, and leave no stream behind in the graph.
"""
import math
import operator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dstreams import ConnectionPool, StateSpec, StreamingContext
from dstreams._util import MAX_DURATION_MS, MAX_PARTITIONS
from dstreams.testing import ManualClock

add, sub = operator.add, operator.sub

junk = st.one_of(st.none(), st.text(max_size=3), st.binary(max_size=2), st.lists(st.integers(), max_size=2),
                 st.builds(object))
bad = {
    "function": st.one_of(junk, st.integers(), st.floats()).filter(lambda v: not callable(v)),
    "optional function": st.one_of(junk, st.integers(), st.floats()).filter(lambda v: v is not None),
    "partitions": st.one_of(
        st.integers(max_value=0), st.integers(min_value=MAX_PARTITIONS + 1), st.floats(), st.booleans(),
        st.text(max_size=3),
        st.decimals(allow_nan=False, allow_infinity=False, places=1).filter(lambda d: d != int(d))),
    "duration": st.one_of(
        st.floats(max_value=0), st.floats(min_value=MAX_DURATION_MS / 1000 + 1), st.just(math.nan),
        st.just(math.inf), st.integers(max_value=0), st.booleans(), st.builds(object),
        # strings Dask cannot read as a duration (no unit is made of these letters), or not a usable one
        st.text(alphabet="xyz!?", max_size=3),
        st.sampled_from(["soon", "2 parsecs", "-1s", "0s", "0.5ms", "1e999s", "400 days"])),
    "text": st.one_of(st.just(""), st.just("   "), st.integers(), st.binary(max_size=3), st.builds(object)),
    "positive": st.one_of(st.integers(max_value=0), st.floats(), st.text(max_size=2), st.none()),
    "count": st.one_of(st.integers(max_value=-1), st.floats(), st.text(max_size=2), st.none(), st.booleans()),
    "fraction": st.one_of(st.floats(max_value=-1e-9), st.sampled_from([math.nan, math.inf, 1.5, None, True, "0.1"])),
    "flag": st.one_of(st.integers(), st.text(max_size=3), st.none()),
    "streams": st.one_of(junk, st.just([]), st.just(()), st.lists(st.integers(), min_size=1, max_size=2)),
    "not an RDD": junk,
    "initial state": st.one_of(st.integers(), st.text(max_size=3), st.builds(object), st.just({"a": 1})),
}

# (call, argument, kind): call(ssc, stream, value) makes the call with the bad value in that argument
CALLS = [
    (lambda c, s, v: s.map(v), "f", "function"),
    (lambda c, s, v: s.flat_map(v), "f", "function"),
    (lambda c, s, v: s.filter(v), "f", "function"),
    (lambda c, s, v: s.map_partitions(v), "f", "function"),
    (lambda c, s, v: s.map_partitions_with_index(v), "f", "function"),
    (lambda c, s, v: s.reduce(v), "f", "function"),
    (lambda c, s, v: s.map_values(v), "f", "function"),
    (lambda c, s, v: s.reduce_by_key(v), "f", "function"),
    (lambda c, s, v: s.combine_by_key(v, add, add), "create_combiner", "function"),
    (lambda c, s, v: s.transform(v), "func", "function"),
    (lambda c, s, v: s.foreach_rdd(v), "func", "function"),
    (lambda c, s, v: s.update_state_by_key(v), "update_func", "function"),
    (lambda c, s, v: s.reduce_by_key_and_window(add, sub, 2, 1, None, v), "filter_func", "optional function"),
    (lambda c, s, v: s.repartition(v), "num_partitions", "partitions"),
    (lambda c, s, v: s.reduce_by_key(add, v), "num_partitions", "partitions"),
    (lambda c, s, v: s.group_by_key(v), "num_partitions", "partitions"),
    (lambda c, s, v: s.join(s, v), "num_partitions", "partitions"),
    (lambda c, s, v: s.count_by_value_and_window(2, 1, v), "num_partitions", "partitions"),
    (lambda c, s, v: s.update_state_by_key(lambda vs, st: st, v), "num_partitions", "partitions"),
    (lambda c, s, v: c.parallelize([1], v), "num_partitions", "partitions"),
    (lambda c, s, v: s.window(v), "window duration", "duration"),
    (lambda c, s, v: s.window(2, v), "slide duration", "duration"),
    (lambda c, s, v: s.reduce_by_key_and_window(add, None, v), "window duration", "duration"),
    (lambda c, s, v: s.checkpoint(v), "checkpoint interval", "duration"),
    (lambda c, s, v: StreamingContext(c.client, v), "batch_interval", "duration"),
    (lambda c, s, v: c.remember(v), "remember duration", "duration"),
    (lambda c, s, v: s.pprint(v), "num", "positive"),
    (lambda c, s, v: c.socket_text_stream("localhost", v), "port", "positive"),
    (lambda c, s, v: c.text_file_stream(v), "directory", "text"),
    (lambda c, s, v: c.checkpoint(v), "directory", "text"),
    (lambda c, s, v: StreamingContext.get_or_create(v, lambda: c), "directory", "text"),
    (lambda c, s, v: s.save_as_text_files(v), "prefix", "text"),
    (lambda c, s, v: s.save_as_pickle_files(v), "prefix", "text"),
    (lambda c, s, v: s.partition_by(v), "num_partitions", "partitions"),
    (lambda c, s, v: s.partition_by(2, v), "partition_func", "function"),
    (lambda c, s, v: s.update_state_by_key(lambda vs, st: st, None, v), "initial_rdd", "initial state"),
    (lambda c, s, v: c.transform([s], v), "func", "function"),
    (lambda c, s, v: c.transform(v, lambda rdds: rdds[0]), "streams", "streams"),
    (lambda c, s, v: c.binary_records_stream(v, 4), "directory", "text"),
    (lambda c, s, v: c.binary_records_stream(".", v), "record_length", "positive"),
    (lambda c, s, v: StateSpec.function(print).timeout(v), "StateSpec.timeout", "duration"),
    (lambda c, s, v: ManualClock().advance(v), "ManualClock.advance", "duration"),
    # the RDD API
    (lambda c, s, v: c.parallelize([1], 1).sort_by(v), "key_func", "function"),
    (lambda c, s, v: c.parallelize([1], 1).sort_by_key(True, v), "num_partitions", "partitions"),
    (lambda c, s, v: c.parallelize([1], 1).coalesce(v), "num_partitions", "partitions"),
    (lambda c, s, v: c.parallelize([1], 1).top(v), "num", "count"),
    (lambda c, s, v: c.parallelize([1], 1).take_ordered(v), "num", "count"),
    (lambda c, s, v: c.parallelize([1], 1).sample(False, v), "fraction", "fraction"),
    (lambda c, s, v: c.parallelize([1], 1).sample(v, 0.1), "with_replacement", "flag"),
    (lambda c, s, v: c.parallelize([1], 1).tree_reduce(add, v), "depth", "positive"),
    (lambda c, s, v: c.parallelize([1], 1).aggregate(0, v, add), "seq_op", "function"),
    (lambda c, s, v: c.parallelize([1], 1).key_by(v), "f", "function"),
    (lambda c, s, v: c.parallelize([1], 1).subtract(v), "other", "not an RDD"),
]


@pytest.fixture(scope="module")
def context(client):
    ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())
    yield ssc
    ssc.stop(stop_client=False)


@pytest.mark.parametrize("call,argument,kind", CALLS, ids=[f"{i}-{c[1]}" for i, c in enumerate(CALLS)])
def test_a_bad_argument_is_refused_naming_it(context, call, argument, kind):
    stream = context.queue_stream([[("a", 1)]])
    streams_before = list(context.runtime.graph.streams)

    @settings(max_examples=40, deadline=None)
    @given(value=bad[kind])
    def check(value):
        with pytest.raises((TypeError, ValueError)) as info:
            call(context, stream, value)
        assert argument in str(info.value), f"{info.value!r} does not name {argument!r}"
        assert context.runtime.graph.streams == streams_before, "a refused stream stayed in the graph"

    check()


@pytest.mark.parametrize("call,message", [
    (lambda s: s.foreach_rdd(lambda a, b, c: None), r"func must be a function of \(rdd\) or \(time, rdd\), but "),
    (lambda s: s.transform_with(s, lambda rdd: rdd), r"\(rdd, other_rdd\) or \(time, rdd, other_rdd\)"),
    (lambda s: s.update_state_by_key(lambda values: values), r"\(new_values, last_state\)"),
    (lambda s: s.map(lambda: 1), r"map\(\): f must be a function of \(record\), but .* takes 0"),
])
def test_a_function_of_the_wrong_shape_is_refused(context, call, message):
    with pytest.raises(TypeError, match=message):
        call(context.queue_stream([]))


def test_functions_with_defaults_or_varargs_are_accepted(context):
    s = context.queue_stream([])
    s.map(lambda x, scale=2: x * scale)
    s.foreach_rdd(lambda *args: None)
    s.map(str)  # a builtin without a signature Python can read is given the benefit of the doubt
    s.reduce_by_key(max)


def test_streams_of_another_context_are_refused_by_name(client, context):
    other = StreamingContext(client, batch_interval=1, clock=ManualClock())
    try:
        with pytest.raises(ValueError, match=r"union: cannot combine streams of two StreamingContexts"):
            context.queue_stream([]).union(other.queue_stream([]))
        with pytest.raises(TypeError, match=r"union\(\) expected DStreams, got 1 \(int\)"):
            context.union(1, 2)
    finally:
        other.stop(stop_client=False)


def test_durations_accept_dask_strings(context):
    """Every duration may be written as Dask writes them ('500ms', '2s', '1 minute'), read by parse_timedelta."""
    stream = context.queue_stream([])
    window = stream.window("2s", "1 second")
    socket = context.socket_text_stream("localhost", 9, block_interval="100ms", restart_delay="0s")
    assert (window.window_ms, window.own_slide_ms) == (2000, 1000)
    assert stream.map(str).checkpoint("10s").checkpoint_ms == 10_000
    assert (socket.block_interval_ms, socket.restart_delay) == (100, 0.0)
    assert StateSpec.function(print).timeout("1 minute").timeout_ms == 60_000
    assert StreamingContext(context.client, "250ms").batch_ms == 250
    assert ConnectionPool(object, timeout="2s").timeout == 2.0
    clock = ManualClock()
    clock.advance("1.5s")
    assert clock.time_ms() == 1500
    assert context.await_termination("10ms") is False  # not started: the timeout passes
    with pytest.raises(ValueError, match=r"await_termination\(\): timeout 'soon' is not a duration Dask can read"):
        context.await_termination("soon")
