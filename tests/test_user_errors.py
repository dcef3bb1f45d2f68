"""Errors that point at the user's code: a failure names the user's call and function with their files and
lines (also from worker processes and for streams an operator made inside itself), it is reported once,
and a function that cannot be pickled is refused at start()."""
from __future__ import annotations

import functools
import logging
import operator
import sys
import threading
import time
import traceback

import cloudpickle
import pytest

from dstreams import BatchFailedError, StreamingContext, StreamingListener
from dstreams.checkpoint import dumps, loads
from dstreams.testing import ManualClock, run_batches
from dstreams.userfuncs import describe, keep_file_names, short_path

HERE = short_path(__file__)


def line():
    """The caller's line: ``stream.map(f), line()`` is the line of that call."""
    return sys._getframe(1).f_lineno


def first_line(func) -> int:
    return func.__code__.co_firstlineno


def parse(text):
    return int(text)  # raises on "x": the line after parse's def


def checked_parse(text):
    return parse(text.strip())


class Collect(logging.Handler):
    """The records of one logger, whether or not it propagates: ``with Collect("distributed.worker") as got``."""

    def __init__(self, name):
        super().__init__(logging.DEBUG)
        self.logger, self.records = logging.getLogger(name), []

    def emit(self, record):
        self.records.append(record)

    def __enter__(self):
        self.logger.addHandler(self)
        return self.records

    def __exit__(self, *exc):
        self.logger.removeHandler(self)


def compute_failed(records) -> list:
    return [r for r in records if r.getMessage().startswith("Compute Failed")]


class Failures(StreamingListener):
    def __init__(self):
        self.reasons, self.errors = [], []
        self.stopped = threading.Event()

    def on_output_operation_completed(self, info):
        if info.failure_reason:
            self.reasons.append(info.failure_reason)

    def on_streaming_error(self, error):
        self.errors.append(error)

    def on_streaming_stopped(self):
        self.stopped.set()


def test_a_failing_map_is_named_with_its_call_site_and_function(ssc):
    listener = Failures()
    ssc.add_listener(listener)
    lines = ssc.queue_stream([["1", "x"]])
    numbers, map_line = lines.map(parse), line()
    numbers.foreach_rdd(lambda rdd: rdd.collect())
    with pytest.raises(BatchFailedError) as ei:
        run_batches(ssc, 1)
    where = (f"ValueError: invalid literal for int() with base 10: 'x', in parse ({HERE}:{first_line(parse) + 1}), "
             f"in map at {HERE}:{map_line} (the function parse at {HERE}:{first_line(parse)})")
    assert where in str(ei.value)
    assert listener.reasons == [where]  # the output operation's failure_reason says the same
    assert isinstance(ei.value.__cause__, ValueError)


def test_the_user_call_is_found_through_helpers_and_among_several_maps(ssc):
    lines = ssc.queue_stream([[" 1 ", " x "]])
    stripped, strip_line = lines.map(str.strip), line()
    numbers, map_line = stripped.map(checked_parse), line()
    numbers.map(lambda n: n * 2).foreach_rdd(lambda rdd: rdd.collect())
    with pytest.raises(BatchFailedError) as ei:
        run_batches(ssc, 1)
    message = str(ei.value)
    # raised in parse, a helper of checked_parse: the call is the map given checked_parse
    assert f"in parse ({HERE}:{first_line(parse) + 1}), in map at {HERE}:{map_line} (the function checked_parse at " \
           f"{HERE}:{first_line(checked_parse)})" in message
    assert f":{strip_line}" not in message


def test_pprint_is_named_at_the_users_call_not_in_dstreams(ssc):
    _, pprint_line = ssc.queue_stream([["1", "x"]]).map(parse).pprint(), line()
    with pytest.raises(BatchFailedError) as ei:
        run_batches(ssc, 1)
    assert f"failed in output operation 0 (pprint at {HERE}:{pprint_line}): ValueError" in str(ei.value)
    assert "output.py" not in str(ei.value) and "<locals>" not in str(ei.value)


def test_a_failing_driver_function_names_its_output_operation_once(ssc):
    def boom(rdd):
        raise RuntimeError("no database")

    _, call_line = ssc.queue_stream([[1]]).foreach_rdd(boom), line()
    with pytest.raises(BatchFailedError) as ei:
        run_batches(ssc, 1)
    message = str(ei.value)
    assert (f"failed in output operation 0 (foreach_rdd at {HERE}:{call_line} (the function "
            f"{boom.__qualname__} at {HERE}:{first_line(boom)})): RuntimeError: no database, in boom "
            f"({HERE}:{first_line(boom) + 1})") in message
    assert message.count("foreach_rdd at") == 1


@pytest.mark.parametrize("cluster", ["client", "process_client"])
def test_an_error_dstreams_raises_in_a_task_names_the_users_call(request, cluster):
    """No frame of the user's code: the failed task's key tells which stream, hence which call."""
    ssc = StreamingContext(request.getfixturevalue(cluster), 1, clock=ManualClock())
    try:
        words = ssc.queue_stream([["a"]])
        counts, call_line = words.reduce_by_key(operator.add), line()  # words are not (key, value) pairs
        _, collect_line = counts.foreach_rdd(lambda rdd: rdd.collect()), line()
        with pytest.raises(BatchFailedError) as ei:
            run_batches(ssc, 1)
    finally:
        ssc.stop(stop_client=False)
    assert str(ei.value).endswith(
        "TypeError: a pair operation needs (key, value) records, got 'a'; map the stream to pairs first, e.g. "
        f".map(lambda x: (x, 1)), in <lambda> ({HERE}:{collect_line}), in reduce_by_key at {HERE}:{call_line}")


def test_a_transform_function_that_raises_names_its_call(ssc):
    def pick(rdd):
        raise LookupError("no such table")

    stream, call_line = ssc.queue_stream([[1]]).transform(pick), line()
    stream.pprint()
    with pytest.raises(BatchFailedError) as ei:
        run_batches(ssc, 1)
    assert str(ei.value).endswith(
        f"could not be built: LookupError: no such table, in pick ({HERE}:{first_line(pick) + 1}), in transform "
        f"at {HERE}:{call_line} (the function {pick.__qualname__} at {HERE}:{first_line(pick)})")


def test_the_pyspark_facade_names_pysparks_calls(client):
    from dstreams.pyspark import SparkContext
    from dstreams.pyspark import StreamingContext as PySparkStreamingContext

    inner = StreamingContext(client, 1, clock=ManualClock())
    ssc = PySparkStreamingContext(SparkContext(master=client), jssc=inner)
    try:
        lines = ssc.queueStream([["1", "x"]])
        window_line = line() + 2
        with pytest.raises(ValueError) as ei:
            lines.map(lambda x: (x, 1)).reduceByKeyAndWindow(operator.add, None, 1.5)
        numbers, map_line = lines.map(parse), line()
        _, output_line = numbers.foreachRDD(lambda rdd: rdd.collect()), line()
        with pytest.raises(BatchFailedError) as failed:
            run_batches(inner, 1)
    finally:
        inner.stop(stop_client=False)
    assert f"of stream 'reduce-by-key-2' (made by reduceByKeyAndWindow at {HERE}:{window_line})" in str(ei.value)
    assert (f"failed in output operation 0 (foreachRDD at {HERE}:{output_line} (the function "
            f"{test_the_pyspark_facade_names_pysparks_calls.__qualname__}.<locals>.<lambda> at {HERE}:{output_line})): "
            f"ValueError: invalid literal for int() with base 10: 'x', in parse ({HERE}:{first_line(parse) + 1}), in "
            f"map at {HERE}:{map_line} (the function parse at {HERE}:{first_line(parse)})") in str(failed.value)


def bad_add(a, b):
    if min(a, b) < 0:  # whichever order the values come in
        raise ValueError(f"negative count {min(a, b)}")
    return a + b


def test_streams_an_operator_made_inside_itself_are_named_by_the_users_call(ssc):
    pairs = ssc.queue_stream([[("a", 1)]])
    call_line = line() + 2
    with pytest.raises(ValueError) as ei:
        pairs.reduce_by_key_and_window(operator.add, None, 1.5)
    assert (f"window duration 1.5s of stream 'reduce-by-key-1' (made by reduce_by_key_and_window at "
            f"{HERE}:{call_line}) is not a multiple of its slide interval 1s") in str(ei.value)


def test_a_failure_inside_a_composite_operator_names_the_users_call(ssc):
    counts, call_line = ssc.queue_stream([[("a", 1), ("a", -1)]]).reduce_by_key_and_window(bad_add, None, 2), line()
    counts.foreach_rdd(lambda rdd: rdd.collect())
    with pytest.raises(BatchFailedError) as ei:
        run_batches(ssc, 1)
    assert (f"ValueError: negative count -1, in bad_add ({HERE}:{first_line(bad_add) + 2}), in "
            f"reduce_by_key_and_window at {HERE}:{call_line} (the function bad_add at {HERE}:{first_line(bad_add)})"
            ) in str(ei.value)
    assert "'reduce-by-key-" not in str(ei.value)


def test_a_failure_while_saving_a_data_checkpoint_names_the_users_call(ssc, tmp_path):
    def update(values, state):
        raise ArithmeticError("state overflow")

    ssc.checkpoint(str(tmp_path))
    pairs = ssc.queue_stream([[("a", 1)]])
    state, call_line = pairs.update_state_by_key(update).checkpoint(1), line()
    state.foreach_rdd(lambda rdd: None)  # computes nothing: the data checkpoint is the first to compute the state
    with pytest.raises(BatchFailedError) as ei:
        run_batches(ssc, 1)
    assert (f"(data checkpoint of stream 'update-state-by-key-1' (update_state_by_key at {HERE}:{call_line})): "
            f"ArithmeticError: state overflow, in update ({HERE}:{first_line(update) + 1}), in update_state_by_key at "
            f"{HERE}:{call_line} (the function {update.__qualname__} at {HERE}:{first_line(update)})") in str(ei.value)


@pytest.mark.parametrize("cluster", ["client", "process_client"])
def test_functions_sent_to_workers_keep_their_file_names(request, cluster):
    """A nested function is pickled by value (as any function of __main__ is): its traceback from the cluster
    shows this file, not cloudpickle's "<dynamic-code>"; worker processes are where it matters most."""
    def helper(text):
        return int(text)

    def nested_parse(text):
        return helper(text)

    ssc = StreamingContext(request.getfixturevalue(cluster), 1, clock=ManualClock())
    try:
        stream, map_line = ssc.queue_stream([["1", "x"]]).map(nested_parse), line()
        stream.foreach_rdd(lambda rdd: rdd.collect())
        with pytest.raises(BatchFailedError) as ei:
            run_batches(ssc, 1)
    finally:
        ssc.stop(stop_client=False)
    message = str(ei.value)
    assert "<dynamic-code>" not in message
    assert (f"in helper ({HERE}:{first_line(helper) + 1}), in map at {HERE}:{map_line} (the function "
            f"{nested_parse.__qualname__} at {HERE}:{first_line(nested_parse)})") in message
    frames = traceback.extract_tb(ei.value.__cause__.__traceback__)
    assert [(f.name, f.lineno) for f in frames if f.filename == __file__][-2:] == [
        ("nested_parse", first_line(nested_parse) + 1), ("helper", first_line(helper) + 1)]
    assert not [f for f in frames if f.filename == "<dynamic-code>"]


def test_a_by_value_copy_keeps_its_file_name_and_its_helpers_too():
    def helper():
        raise KeyError("k")

    def outer():
        return [helper() for _ in range(1)]

    keep_file_names(outer)
    copy = cloudpickle.loads(cloudpickle.dumps(outer))
    assert copy.__code__.co_filename == __file__
    with pytest.raises(KeyError) as ei:
        copy()
    assert [f.filename for f in traceback.extract_tb(ei.value.__traceback__)[1:]] == [__file__] * 3  # + listcomp
    plain = cloudpickle.loads(cloudpickle.dumps(lambda: None))  # what keep_file_names repairs
    assert plain.__code__.co_filename == "<dynamic-code>"


def test_a_graph_read_back_from_a_checkpoint_keeps_call_sites_and_file_names(ssc):
    def nested_parse(text):
        return int(text)

    stream, call_line = ssc.queue_stream([["1"]]).map(nested_parse), line()
    stream.pprint()
    graph = loads(dumps(ssc.runtime.graph), None)
    recovered = next(s for s in graph.streams if s.name == stream.name)
    assert recovered.call_site == f"map at {HERE}:{call_line}"
    ((func, on_driver),) = recovered.user_functions
    assert func is not nested_parse and func.__code__.co_filename == __file__ and not on_driver
    assert [s.description for s in graph.outputs] == [f"pprint at {HERE}:{call_line + 1}"]


def test_the_runs_failures_are_reported_once_while_awaited(ssc, client, caplog):
    """While run_batches (or await_termination) waits, the error raised there is the one report: no ERROR
    line of dstreams, and no "Compute Failed" of the workers for the run's tasks; other work is logged."""
    with Collect("distributed.worker") as worker_records:
        ssc.queue_stream([["1", "x"]]).map(parse).foreach_rdd(lambda rdd: rdd.collect())
        with pytest.raises(BatchFailedError):
            run_batches(ssc, 1)
        assert compute_failed(worker_records) == []
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
        assert client.submit(parse, "y", pure=False).exception(timeout=30) is not None  # not the run's task
        failed = compute_failed(worker_records)
        assert len(failed) == 1 and failed[0].args[0].startswith("parse-")


def test_a_failure_that_await_termination_raises_is_not_logged_as_well(ssc, caplog):
    ssc.queue_stream([["x"]]).map(parse).foreach_rdd(lambda rdd: rdd.collect())
    ssc.start()

    def run_the_batch_once_awaited():
        deadline = time.monotonic() + 30
        while not ssc._awaiting and time.monotonic() < deadline:
            time.sleep(0.01)
        ssc.clock.advance(1)

    threading.Thread(target=run_the_batch_once_awaited, daemon=True).start()
    with pytest.raises(BatchFailedError, match="in map at"):
        ssc.await_termination(30)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_under_continue_the_failures_no_waiter_is_given_are_logged(client, caplog):
    """run_batches does not raise under on_batch_failure="continue", and await_termination raises the first
    failure only: each failed batch is logged, once."""
    ssc = StreamingContext(client, 1, clock=ManualClock(), on_batch_failure="continue")
    try:
        ssc.queue_stream([["x"], ["1"], ["y"]]).map(parse).foreach_rdd(lambda rdd: rdd.collect())
        run_batches(ssc, 3)
        with pytest.raises(BatchFailedError, match="'x'"):
            ssc.await_termination(5)
    finally:
        ssc.stop(stop_client=False)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2 and "'x'" in errors[0] and "'y'" in errors[1], errors


def test_a_failure_nobody_awaits_is_logged_once(ssc, caplog):
    listener = Failures()
    ssc.add_listener(listener)
    with Collect("distributed.worker") as worker_records:
        ssc.queue_stream([["1", "x"]]).map(parse).foreach_rdd(lambda rdd: rdd.collect())
        ssc.start()
        ssc.clock.advance(1)
        assert listener.stopped.wait(30)
    assert compute_failed(worker_records) == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [(r.name, r.getMessage()) for r in errors] == [("dstreams", f"dstreams: {listener.errors[0]}")]
    assert "in map at" in errors[0].getMessage()


def test_worker_processes_do_not_log_the_runs_failed_tasks(process_client):
    ssc = StreamingContext(process_client, 1, clock=ManualClock())
    try:
        ssc.queue_stream([["1", "x"]]).map(parse).foreach_rdd(lambda rdd: rdd.collect())
        with pytest.raises(BatchFailedError):
            run_batches(ssc, 1)
    finally:
        ssc.stop(stop_client=False)
    assert process_client.submit(parse, "y", pure=False).exception(timeout=30) is not None  # not the run's task
    logged = [msg for logs in process_client.get_worker_logs().values() for _, msg in logs
              if "Compute Failed" in msg]
    assert any("parse-" in msg for msg in logged)
    assert not [msg for msg in logged if ssc.run_id in msg]


LOCK = threading.Lock()


@pytest.mark.parametrize("cluster", ["client", "process_client"])
def test_a_function_that_cannot_be_pickled_is_refused_at_start_without_a_checkpoint(request, cluster):
    lock = threading.Lock()
    ssc = StreamingContext(request.getfixturevalue(cluster), 1, clock=ManualClock())
    try:
        numbers = ssc.queue_stream([[1]])
        numbers.foreach_rdd(lambda rdd: lock)  # on the driver: never pickled without a checkpoint directory
        locked, call_line = numbers.map(lambda x: (lock, x)), line()
        locked.pprint()
        with pytest.raises(ValueError) as ei:
            ssc.start()
        assert str(ei.value).startswith(
            f"stream 'map-2' (map at {HERE}:{call_line}): the function "
            f"{test_a_function_that_cannot_be_pickled_is_refused_at_start_without_a_checkpoint.__qualname__}."
            f"<locals>.<lambda> ({HERE}:{call_line}) cannot be sent to the workers: the variable 'lock' it uses "
            "from its enclosing function (a _thread.lock) cannot be pickled (TypeError: cannot pickle "
            "'_thread.lock' object). Create such objects inside the function")
        assert isinstance(ei.value.__cause__, TypeError)
    finally:
        ssc.stop(stop_client=False)


def test_the_unpicklable_object_is_found_through_partials_helpers_and_globals(ssc):
    def helper(x):
        with LOCK:
            return x

    def add_checked(n, x):
        return helper(x) + n

    stream, call_line = ssc.queue_stream([[1]]).map(functools.partial(add_checked, 1)), line()
    stream.pprint()
    with pytest.raises(ValueError) as ei:
        ssc.start()
    assert str(ei.value).startswith(
        f"stream 'map-1' (map at {HERE}:{call_line}): the function partial({add_checked.__qualname__}) "
        f"({HERE}:{first_line(add_checked)}) cannot be sent to the workers: the partial's function (the function "
        f"{describe(add_checked)}), the variable 'helper' it uses from its enclosing function (the function "
        f"{describe(helper)}), the global 'LOCK' it uses (a _thread.lock) cannot be pickled (TypeError: cannot "
        "pickle '_thread.lock' object)")


def test_messages_about_odd_functions_never_raise():
    class Odd:
        def __getattr__(self, name):
            raise RuntimeError("no attributes here")

        def __call__(self, x):
            return x

    assert describe(Odd()).startswith("test_messages_about_odd_functions_never_raise.<locals>.Odd (")
    assert describe(len) == "len"
    assert describe(functools.partial(parse)) == f"partial(parse) ({HERE}:{first_line(parse)})"
