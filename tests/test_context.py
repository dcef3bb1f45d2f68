"""StreamingContext life cycle, bad input and failures."""
import operator
import threading
import time

import pytest

from dstreams import BatchFailedError, StreamingContext, StreamingContextState, StreamingListener
from dstreams.testing import ManualClock, run_batches


class Recorder(StreamingListener):
    def __init__(self):
        self.events = []
        self.batches = []
        self.errors = []

    def on_streaming_started(self, time_ms):
        self.events.append("started")

    def on_batch_submitted(self, info):
        self.events.append(("submitted", info.batch_time_ms))

    def on_batch_started(self, info):
        self.events.append(("batch-started", info.batch_time_ms))

    def on_output_operation_completed(self, info):
        self.events.append(("op-completed", info.batch_time_ms, info.failure_reason is None))

    def on_batch_completed(self, info):
        self.events.append(("completed", info.batch_time_ms))
        self.batches.append(info)

    def on_streaming_error(self, error):
        self.errors.append(error)

    def on_streaming_stopped(self):
        self.events.append("stopped")


@pytest.mark.parametrize("interval,message", [
    (0, "batch_interval must be positive"),
    (-1, "batch_interval must be positive"),
    ("soon", "batch_interval 'soon' is not a duration Dask can read; write it as for example '500ms'"),
    ([1], "batch_interval must be a number of seconds, a datetime.timedelta or a string such as '2s'"),
])
def test_bad_batch_interval(client, interval, message):
    with pytest.raises((ValueError, TypeError), match=message):
        StreamingContext(client, batch_interval=interval)


def test_timedelta_batch_interval(client):
    import datetime

    ssc = StreamingContext(client, batch_interval=datetime.timedelta(milliseconds=250))
    assert ssc.batch_interval == 0.25


def test_start_without_output_operation_is_refused(ssc):
    ssc.queue_stream([[1]]).map(str)
    with pytest.raises(ValueError, match=r"no output operation.*stream\.pprint\(\)"):
        ssc.start()


def test_adding_an_operation_after_start_is_refused(ssc):
    s = ssc.queue_stream([[1]])
    s.pprint()
    ssc.start()
    with pytest.raises(RuntimeError, match="after the StreamingContext started.*before ssc.start"):
        s.map(str)
    with pytest.raises(RuntimeError, match="after the StreamingContext started"):
        s.foreach_rdd(print)


def test_a_stopped_context_cannot_start_again(ssc):
    ssc.queue_stream([]).pprint()
    ssc.start()
    ssc.stop(stop_client=False)
    assert ssc.state is StreamingContextState.STOPPED
    with pytest.raises(RuntimeError, match="stopped.*create a new StreamingContext"):
        ssc.start()
    ssc.stop(stop_client=False)  # idempotent


def test_second_active_context_on_one_client_is_refused(client, ssc):
    ssc.queue_stream([]).pprint()
    ssc.start()
    other = StreamingContext(client, 1, clock=ManualClock())
    other.queue_stream([]).pprint()
    with pytest.raises(RuntimeError, match="another StreamingContext is already active.*stop it"):
        other.start()
    ssc.stop(stop_client=False)
    other.start()  # allowed once the first stopped
    other.stop(stop_client=False)


def test_batch_info_reaches_listeners(ssc):
    rec = Recorder()
    ssc.add_listener(rec)
    ssc.queue_stream([[1, 2, 3], [4]]).foreach_rdd(lambda rdd: rdd.count())
    run_batches(ssc, 2)
    ssc.stop(stop_client=False)
    assert [b.batch_time_ms for b in rec.batches] == [1000, 2000]
    assert [b.num_records for b in rec.batches] == [3, 1]
    info = rec.batches[0]
    assert info.scheduling_delay is not None and info.processing_delay is not None
    assert info.total_delay == pytest.approx(info.scheduling_delay + info.processing_delay)
    assert info.failure_reason is None
    assert rec.events[0] == "started" and rec.events[-1] == "stopped"
    assert rec.events[1:5] == [("submitted", 1000), ("batch-started", 1000), ("op-completed", 1000, True),
                               ("completed", 1000)]


def test_failing_driver_function_fails_the_batch_and_stops(ssc):
    rec = Recorder()
    ssc.add_listener(rec)

    def boom(rdd):
        if rdd.collect() == [2]:
            raise ValueError("bad record 2")

    ssc.queue_stream([[1], [2], [3]]).foreach_rdd(boom)
    with pytest.raises(BatchFailedError, match=r"batch .*\(2000 ms\) failed in output operation 0 "
                                               r"\(foreach_rdd at .*boom.*\): ValueError: bad record 2") as ei:
        run_batches(ssc, 3)
    assert isinstance(ei.value.__cause__, ValueError)
    assert ei.value.batch_time_ms == 2000
    # await_termination re-raises the failure
    with pytest.raises(BatchFailedError):
        ssc.await_termination(timeout=10)
    assert ssc.state is StreamingContextState.STOPPED
    assert [b.failure_reason is None for b in rec.batches] == [True, False]
    assert "ValueError: bad record 2" in rec.batches[1].failure_reason
    assert len(rec.errors) == 1


def test_failing_worker_function_fails_the_batch(ssc):
    def parse(x):
        return int(x)

    ssc.queue_stream([["1", "x"]]).map(parse).foreach_rdd(lambda rdd: rdd.collect())
    with pytest.raises(BatchFailedError, match="invalid literal for int") as ei:
        run_batches(ssc, 1)
    assert isinstance(ei.value.__cause__, ValueError)


def test_failing_transform_fails_at_generation(ssc):
    def bad(rdd):
        return [1]

    ssc.queue_stream([[1]]).transform(bad).pprint()
    with pytest.raises(BatchFailedError, match="could not be built.*must return an RDD"):
        run_batches(ssc, 1)


def test_await_termination_times_out_while_running(ssc):
    ssc.queue_stream([]).pprint()
    ssc.start()
    assert ssc.await_termination(timeout=0.05) is False
    stopper = threading.Timer(0.1, ssc.stop, kwargs={"stop_client": False})
    stopper.start()
    assert ssc.await_termination(timeout=10) is True


def test_graceful_stop_finishes_generated_batches(ssc):
    """Batches already generated when stop(graceful=True) is called all run before it returns."""
    release = threading.Event()
    done = []

    def slow(t, rdd):
        release.wait(10)
        done.append((t.second, rdd.collect()))

    ssc.queue_stream([[1], [2], [3]]).foreach_rdd(slow)
    ssc.start()
    ssc.clock.advance(3)  # three batches due; the first blocks in slow()
    deadline = time.monotonic() + 10
    while ssc._generator.last_generated != 3000 and time.monotonic() < deadline:
        time.sleep(0.01)
    threading.Timer(0.2, release.set).start()
    ssc.stop(stop_client=False, graceful=True)
    assert done == [(1, [1]), (2, [2]), (3, [3])]


def test_non_graceful_stop_drops_queued_batches(ssc):
    release = threading.Event()
    done = []

    def slow(t, rdd):
        release.wait(10)
        done.append(t.second)

    ssc.queue_stream([[1], [2], [3]]).foreach_rdd(slow)
    ssc.start()
    ssc.clock.advance(3)
    deadline = time.monotonic() + 10
    while ssc._scheduler.pending() < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    threading.Timer(0.2, release.set).start()
    ssc.stop(stop_client=False)
    assert done == [1]


def test_stop_from_inside_a_job_does_not_hang(ssc):
    ssc.queue_stream([[1]]).foreach_rdd(lambda rdd: ssc.stop(stop_client=False))
    ssc.start()
    ssc.clock.advance(1)
    assert ssc.await_termination(timeout=20) is True


def test_real_clock_runs_batches(client):
    """Integration with the system clock: a 100 ms interval produces batches in real time."""
    ssc = StreamingContext(client, batch_interval=0.1)
    seen = []
    ssc.queue_stream([[i] for i in range(3)]).foreach_rdd(lambda rdd: seen.extend(rdd.collect()))
    ssc.start()
    deadline = time.monotonic() + 20
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    ssc.stop(stop_client=False)
    assert seen == [0, 1, 2]


def test_owned_local_cluster_is_closed_on_stop():
    with StreamingContext(batch_interval=1, clock=ManualClock()) as ssc:
        out = []
        ssc.queue_stream([["a b", "a"], ["b"]]).flat_map(str.split).map(lambda w: (w, 1)) \
            .reduce_by_key(operator.add).foreach_rdd(lambda rdd: out.append(sorted(rdd.collect())))
        run_batches(ssc, 2)
        client = ssc.client
    assert out == [[("a", 2), ("b", 1)], [("b", 1)]]
    assert client.status == "closed"


def test_unreachable_scheduler_address_is_a_clear_error():
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):  # Dask's own setting bounds the wait
        with pytest.raises(ConnectionError, match="could not reach a Dask scheduler at 'tcp://127.0.0.1:1'"):
            StreamingContext("tcp://127.0.0.1:1")


def test_run_batches_needs_a_manual_clock(client):
    ssc = StreamingContext(client, 1)
    with pytest.raises(TypeError, match="ManualClock"):
        run_batches(ssc, 1)


def test_remember_keeps_rdds_for_slice(ssc):
    s = ssc.queue_stream([[1], [2], [3], [4]])
    s.pprint()
    ssc.remember(10)
    run_batches(ssc, 4)
    import datetime

    rdds = s.slice(datetime.datetime.fromtimestamp(2), datetime.datetime.fromtimestamp(3))
    assert [r.collect() for r in rdds] == [[2], [3]]


def test_operations_after_a_failed_one_do_not_run(ssc):
    """A later output operation (say, an offset commit) must not run once an earlier one failed."""
    rec = Recorder()
    ssc.add_listener(rec)
    committed = []

    def write(rdd):
        raise ConnectionError("the database is down")

    s = ssc.queue_stream([[1]])
    s.foreach_rdd(write)
    s.foreach_rdd(lambda rdd: committed.append(rdd.collect()))
    with pytest.raises(BatchFailedError, match="the database is down"):
        run_batches(ssc, 1)
    assert committed == []
    ops = rec.batches[0].output_operations
    assert "ConnectionError" in ops[0].failure_reason
    assert ops[1].failure_reason.startswith("not run: output operation")


def test_a_stream_that_failed_to_build_leaves_no_trace(ssc):
    with pytest.raises(ValueError, match="not a multiple"):
        ssc.queue_stream([[1]]).window(1.5)
    out = []
    ssc.queue_stream([[2]]).foreach_rdd(lambda rdd: out.append(rdd.collect()))
    run_batches(ssc, 1)
    assert out == [[2]]


def test_listener_events_are_delivered_one_at_a_time():
    from dstreams.listener import ListenerBus

    class Overlap(StreamingListener):
        def __init__(self):
            self.inside, self.max_inside, self.calls = 0, 0, 0
            self.gate = threading.Barrier(2, timeout=0.2)

        def on_batch_submitted(self, info):
            self.inside += 1
            self.max_inside = max(self.max_inside, self.inside)
            try:
                self.gate.wait()  # a second thread inside at the same time would pass this barrier
            except threading.BrokenBarrierError:
                self.gate.reset()
            self.calls += 1
            self.inside -= 1

    bus = ListenerBus()
    listener = Overlap()
    bus.add(listener)
    threads = [threading.Thread(target=bus.post, args=("on_batch_submitted", None)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert listener.calls == 4 and listener.max_inside == 1


def test_a_listener_may_stop_the_context(ssc):
    class StopAfterOne(StreamingListener):
        def on_batch_completed(self, info):
            ssc.stop(stop_client=False)

    ssc.add_listener(StopAfterOne())
    ssc.queue_stream([[1], [2]]).foreach_rdd(lambda rdd: rdd.count())
    ssc.start()
    ssc.clock.advance(1)
    assert ssc.await_termination(timeout=20) is True
    assert ssc.state is StreamingContextState.STOPPED


@pytest.mark.parametrize("how", ["run_batches", "await_termination"])
def test_a_failure_reaches_the_caller_once_the_context_is_released(client, how):
    """A notebook user re-runs the cell at once: the next context on the same client must start."""
    for attempt in range(3):
        ssc = StreamingContext(client, 1, clock=ManualClock())
        ssc.queue_stream([[1]]).foreach_rdd(lambda rdd: 1 / 0)
        with pytest.raises(BatchFailedError, match="ZeroDivisionError"):
            if how == "run_batches":
                run_batches(ssc, 1)
            else:
                ssc.start()
                ssc.clock.advance(1)
                ssc.await_termination(timeout=30)
        assert ssc.state is StreamingContextState.STOPPED
        following = StreamingContext(client, 1, clock=ManualClock())
        out = []
        following.queue_stream([[attempt]]).foreach_rdd(lambda rdd, out=out: out.append(rdd.collect()))
        run_batches(following, 1)  # refused with "another StreamingContext is already active" before
        following.stop(stop_client=False)
        assert out == [[attempt]]


def test_repr_never_raises():
    ssc = StreamingContext(batch_interval=1, clock=ManualClock())
    address = ssc.client.scheduler.address
    assert repr(ssc) == f"<StreamingContext initialized, batch 1s, scheduler {address}>"
    ssc.stop()  # closes the client and cluster it created
    assert repr(ssc) == "<StreamingContext stopped, batch 1s>"
    half = StreamingContext.__new__(StreamingContext)
    assert repr(half) == "<StreamingContext>"
