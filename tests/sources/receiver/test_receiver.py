"""Custom receivers: restarts, errors to listeners, stop, graceful stop, rate limit, replication, refusals."""
from __future__ import annotations

import threading
import time
import uuid

import pytest

from dstreams import Receiver, StreamingContext, StreamingContextState, StreamingError
from dstreams.testing import ManualClock, run_batches

from .support import SHARED, CountingReceiver, Events, ThreadedReceiver, wait_until


@pytest.fixture
def token():
    t = uuid.uuid4().hex
    yield t
    SHARED.pop(t, None)


class FailFirstReceiver(ThreadedReceiver):
    """Raises in on_start on its first attempt; later attempts store three records."""

    def on_start(self):
        attempts = self.shared["attempts"] = self.shared.get("attempts", 0) + 1
        if attempts == 1:
            raise ValueError("boom on first start")
        super().on_start()

    def produce(self):
        self.store(["x", "y", "z"])


def test_receiver_that_raises_is_restarted_as_a_new_task_and_listeners_hear_it(ssc, token):
    events = Events()
    ssc.add_listener(events)
    out = []
    stream = ssc.receiver_stream(FailFirstReceiver(token), restart_delay=0.05)
    stream.foreach_rdd(lambda rdd: out.extend(rdd.collect()))
    ssc.start()
    tracker = ssc.runtime.receiver_tracker
    wait_until(lambda: tracker.num_records_received(stream.id) == 3, what="3 records from the restarted receiver")
    run_batches(ssc, 1)
    assert sorted(out) == ["x", "y", "z"]
    assert SHARED[token]["attempts"] == 2
    assert len(events.errors) == 1
    err = events.errors[0]
    assert "on_start() raised ValueError: boom on first start" in err.last_error_message
    assert err.last_error == "ValueError: boom on first start"
    assert [i.attempt for i in events.started] == [1, 2]
    assert [(i.attempt, i.active) for i in events.stopped] == [(1, False)]
    info = tracker.receiver_info(stream.id)
    assert (info.attempt, info.restarts, info.active) == (2, 1, True)


class RestartOnceReceiver(ThreadedReceiver):
    def produce(self):
        attempts = self.shared["attempts"] = self.shared.get("attempts", 0) + 1
        self.store([f"attempt-{attempts}"])
        if attempts == 1:
            self.restart("source hiccup", ConnectionResetError("peer reset"))


def test_restart_from_a_receiver_thread(ssc, token):
    events = Events()
    ssc.add_listener(events)
    out = []
    stream = ssc.receiver_stream(RestartOnceReceiver(token), restart_delay=0.05)
    stream.foreach_rdd(lambda rdd: out.extend(rdd.collect()))
    ssc.start()
    wait_until(lambda: ssc.runtime.receiver_tracker.num_records_received(stream.id) == 2, what="a record per attempt")
    run_batches(ssc, 1)
    assert sorted(out) == ["attempt-1", "attempt-2"]
    assert [(e.last_error_message, e.last_error) for e in events.errors] == [
        ("source hiccup", "ConnectionResetError: peer reset")]


class AlwaysFailReceiver(Receiver):
    def on_start(self):
        raise OSError("source is down")


def test_receiver_that_keeps_failing_stops_the_context_after_max_restarts(ssc):
    events = Events()
    ssc.add_listener(events)
    ssc.receiver_stream(AlwaysFailReceiver(), max_restarts=2, restart_delay=0.01).pprint()
    ssc.start()
    with pytest.raises(StreamingError, match=r"receiver AlwaysFailReceiver-0 of stream 0 failed 3 time\(s\) in a "
                                             r"row .*max_restarts=2.*OSError: source is down.*larger max_restarts"):
        ssc.await_termination(timeout=30)
    assert ssc.state is StreamingContextState.STOPPED
    assert len(events.errors) == 3
    assert [i.attempt for i in events.started] == [1, 2, 3]
    assert events.stopped[-1].attempt == 3 and not events.stopped[-1].active
    assert len(events.streaming_errors) == 1


class ReportThenStopReceiver(ThreadedReceiver):
    def produce(self):
        self.store(["only"])
        self.report_error("a record was malformed", ValueError("bad field"))
        self.stop("source exhausted")


def test_report_error_and_stop_for_good(ssc, token):
    events = Events()
    ssc.add_listener(events)
    out = []
    stream = ssc.receiver_stream(ReportThenStopReceiver(token), restart_delay=0.01)
    stream.foreach_rdd(lambda rdd: out.extend(rdd.collect()))
    ssc.start()
    wait_until(lambda: events.stopped, what="the receiver to stop")
    run_batches(ssc, 2)
    assert out == ["only"]
    assert [(e.last_error_message, e.last_error) for e in events.errors] == [
        ("a record was malformed", "ValueError: bad field")]
    assert [i.attempt for i in events.started] == [1]  # not restarted
    assert ssc.state is StreamingContextState.ACTIVE  # the stream goes on without it


def test_graceful_stop_processes_every_record_stored(ssc, token):
    """Records still buffered in the block generator (block interval 60 s) and blocks already received
    but not in a batch are all processed before stop(graceful=True) returns."""
    out = []
    n = 500
    stream = ssc.receiver_stream(CountingReceiver(token, n), block_interval=60)
    stream.foreach_rdd(lambda rdd: out.extend(rdd.collect()))
    ssc.start()
    wait_until(lambda: SHARED[token].get("stored") == n, what=f"the receiver to store {n} records")
    assert ssc.runtime.receiver_tracker.num_records_received(stream.id) == 0  # still buffered on the worker
    ssc.stop(stop_client=False, graceful=True)
    assert sorted(out) == list(range(n))


def test_graceful_stop_after_batches_ran(ssc, token):
    out = []
    stream = ssc.receiver_stream(CountingReceiver(token, 100), block_interval=0.05)
    stream.foreach_rdd(lambda rdd: out.append(len(rdd.collect())))
    ssc.start()
    wait_until(lambda: ssc.runtime.receiver_tracker.num_records_received(stream.id) == 100, what="100 records")
    run_batches(ssc, 2)
    ssc.stop(stop_client=False, graceful=True)
    assert out == [100, 0]  # nothing left: no extra batch


def test_non_graceful_stop_releases_everything(client, ssc, token):
    stream = ssc.receiver_stream(CountingReceiver(token, 50), block_interval=0.02)
    stream.pprint()
    ssc.start()
    wait_until(lambda: ssc.runtime.receiver_tracker.num_records_received(stream.id) == 50, what="50 records")
    ssc.stop(stop_client=False)
    wait_until(lambda: not [k for k in client.who_has() if str(k).startswith(("rblock-", "receiver-"))],
               what="every block released")
    assert not any(str(k).startswith("receiver-") for ks in client.processing().values() for k in ks)


class PacedReceiver(ThreadedReceiver):
    """Stores ``n`` times as fast as it may (records, or blocks of 10), noting when each store returned."""

    def __init__(self, token, n, blocks=False):
        super().__init__(token)
        self.n, self.blocks = n, blocks

    def produce(self):
        times = self.shared.setdefault("times", [])
        self.shared["t0"] = time.monotonic()  # before the first store
        for i in range(self.n):
            self.store([i] * 10 if self.blocks else i)
            times.append(time.monotonic())


@pytest.mark.parametrize("blocks,rate,n", [(False, 100.0, 40), (True, 200.0, 15)], ids=["records", "blocks-of-10"])
def test_rate_limit_is_respected(ssc, token, blocks, rate, n):
    per_store = 10 if blocks else 1  # a store every 10 ms, or a block of 10 every 50 ms
    ssc.receiver_stream(PacedReceiver(token, n, blocks), max_rate=rate).pprint()
    ssc.start()
    times = wait_until(lambda: len(SHARED[token].get("times", ())) >= n and SHARED[token]["times"],
                       what=f"{n} stores")
    spacing = per_store / rate
    elapsed = [t - SHARED[token]["t0"] for t in times]
    # store k (0-based) returns k intervals after the first one started, not earlier
    too_early = [(k, round(e, 4)) for k, e in enumerate(elapsed) if e < k * spacing - 0.003]
    assert not too_early, f"stores faster than {rate} records/s: {too_early}"
    assert elapsed[-1] < (n - 1) * spacing + 2.0, "the limiter slowed stores far below the rate"


class BlockAckReceiver(ThreadedReceiver):
    """A reliable receiver: stores a block, and only when store() returned 'acknowledges' it.

    With ``gate``, it waits for SHARED[token]["go"] (a threading.Event) first.
    """

    def __init__(self, token, gate=False):
        super().__init__(token)
        self.gate = gate

    def produce(self):
        if self.gate:
            self.shared["go"].wait(10)
        self.store(iter(["r1", "r2", "r3"]))  # an iterator is one block too
        self.shared["acked"] = True


def test_store_of_a_block_returns_once_stored_and_replicated(client, ssc, token):
    stream = ssc.receiver_stream(BlockAckReceiver(token))
    stream.pprint()
    ssc.start()
    wait_until(lambda: SHARED[token].get("acked"), what="the block to be acknowledged")
    who = {str(k): v for k, v in client.who_has().items() if str(k).startswith("rblock-")}
    (primary,) = [k for k in who if not k.endswith("-r")]
    worker = ssc.runtime.receiver_tracker.receiver_info(stream.id).worker
    assert who[primary] == (worker,) or who[primary] == [worker]
    assert list(who[primary + "-r"]) != [worker] and len(who[primary + "-r"]) == 1


def test_without_replication_no_copy_is_made(client, ssc, token):
    stream = ssc.receiver_stream(BlockAckReceiver(token), replicate=False)
    stream.pprint()
    ssc.start()
    wait_until(lambda: SHARED[token].get("acked"), what="the block to be acknowledged")
    keys = [str(k) for k in client.who_has() if str(k).startswith("rblock-")]
    assert len(keys) == 1 and not keys[0].endswith("-r")


class PinnedReceiver(ThreadedReceiver):
    def produce(self):
        self.shared["where"] = self.stream_id


def test_preferred_worker_is_used(client, ssc, token):
    target = sorted(client.nthreads())[-1]
    receiver = PinnedReceiver(token)
    receiver.preferred_worker = target
    stream = ssc.receiver_stream(receiver)
    stream.pprint()
    ssc.start()
    wait_until(lambda: "where" in SHARED[token], what="the receiver to run")
    assert SHARED[token]["where"] == stream.id
    assert ssc.runtime.receiver_tracker.receiver_info(stream.id).worker == target


def test_receivers_taking_every_thread_are_refused_at_start(client, ssc, token):
    threads = sum(client.nthreads().values())  # 4 in the session cluster
    for _ in range(threads):
        ssc.receiver_stream(CountingReceiver(token, 1)).pprint()
    with pytest.raises(RuntimeError, match=rf"its {threads} receiver stream\(s\) would take {threads} of the "
                                           rf"{threads} worker thread\(s\).*at least {threads + 1} threads"):
        ssc.start()
    assert ssc.state is StreamingContextState.INITIALIZED
    assert not any(str(k).startswith("receiver-") for ks in client.processing().values() for k in ks)


def test_one_thread_fewer_is_accepted(client, token):
    threads = sum(client.nthreads().values())
    ssc = StreamingContext(client, 1, clock=ManualClock())
    try:
        streams = [ssc.receiver_stream(CountingReceiver(token, 1)) for _ in range(threads - 1)]
        ssc.union(*streams).count().foreach_rdd(lambda rdd: SHARED[token].setdefault("n", rdd.collect()))
        ssc.start()
        tracker = ssc.runtime.receiver_tracker
        wait_until(lambda: all(tracker.num_records_received(s.id) == 1 for s in streams), what="a record each")
        run_batches(ssc, 1)
        assert SHARED[token]["n"] == [threads - 1]
        workers = {tracker.receiver_info(s.id).worker for s in streams}
        assert len(workers) == 2  # spread over both workers
    finally:
        ssc.stop(stop_client=False)


class Unpicklable(Receiver):
    def __init__(self):
        self.lock = threading.Lock()

    def on_start(self):
        pass


def test_bad_receiver_arguments_are_refused(ssc):
    with pytest.raises(TypeError, match="needs a receiver instance, got the class CountingReceiver; pass "
                                        r"CountingReceiver\(...\)"):
        ssc.receiver_stream(CountingReceiver)
    with pytest.raises(TypeError, match="needs an instance of a dstreams.Receiver subclass, got str"):
        ssc.receiver_stream("socket")
    with pytest.raises(TypeError, match="cannot be pickled.*open connections, locks and threads in on_start"):
        ssc.receiver_stream(Unpicklable())
    with pytest.raises(ValueError, match="max_rate must be a positive number"):
        ssc.receiver_stream(CountingReceiver("t", 1), max_rate=0)
    with pytest.raises(ValueError, match="max_restarts must be an integer >= 0"):
        ssc.receiver_stream(CountingReceiver("t", 1), max_restarts=-1)
    with pytest.raises(ValueError, match="block_interval must be positive"):
        ssc.receiver_stream(CountingReceiver("t", 1), block_interval=0)


def test_receiver_methods_outside_a_worker_say_so():
    r = CountingReceiver("t", 1)
    assert r.is_stopped() and not r.is_started()
    with pytest.raises(RuntimeError, match=r"CountingReceiver.store\(\) can only be called while the receiver "
                                           "runs on a worker"):
        r.store(1)
    with pytest.raises(NotImplementedError, match="must implement on_start"):
        Receiver().on_start()


class LateFirstStartReceiver(ThreadedReceiver):
    """Fails its first start, so that its second start comes after the restart delay."""

    def on_start(self):
        attempts = self.shared["late"] = self.shared.get("late", 0) + 1
        if attempts == 1:
            raise RuntimeError("not yet")
        super().on_start()

    def produce(self):
        pass


def test_blocks_on_a_worker_that_receivers_came_to_fill_are_copied_for_the_batch(client, ssc, token):
    """Receivers may move to a worker after blocks were stored there and take all its threads; the
    batch's tasks could never run there, so the blocks are first copied to a worker with a free thread."""
    busy = sorted(client.nthreads())[0]
    out = []
    events = Events()
    ssc.add_listener(events)
    SHARED[token]["go"] = threading.Event()
    first = BlockAckReceiver(token, gate=True)
    first.preferred_worker = busy
    late = LateFirstStartReceiver(token)
    late.preferred_worker = busy
    stream = ssc.receiver_stream(first, replicate=False)
    stream.foreach_rdd(lambda rdd: out.extend(rdd.collect()))
    late_stream = ssc.receiver_stream(late, restart_delay=1.0)
    late_stream.pprint()
    ssc.start()
    tracker = ssc.runtime.receiver_tracker
    wait_until(lambda: [i for i in events.stopped if i.stream_id == late_stream.id], what="the late one's first end")
    SHARED[token]["go"].set()  # only now, with one receiver there, the block is stored on that worker
    wait_until(lambda: tracker.num_records_received(stream.id) == 3, what="the first receiver's block")
    (block,) = tracker.blocks.unallocated(stream.id)
    assert block.where == (busy,)  # stored while a thread was free there
    wait_until(lambda: tracker.receiver_info(late_stream.id).attempt == 2
               and tracker.receiver_info(late_stream.id).active, what="the second receiver's second start")
    run_batches(ssc, 1, timeout=30)
    assert sorted(out) == ["r1", "r2", "r3"]
    assert block.copy is not None and block.copy.key == f"{block.key}-c"


def test_a_cancelled_receiver_task_ends_itself_and_is_restarted(ssc, token):
    """Dask cannot end the thread of a cancelled task: the supervisor notices and stops the receiver."""
    events = Events()
    ssc.add_listener(events)
    stream = ssc.receiver_stream(CountingReceiver(token, 0), restart_delay=0.05)
    stream.pprint()
    ssc.start()
    tracker = ssc.runtime.receiver_tracker
    wait_until(lambda: tracker.receiver_info(stream.id).active, what="the receiver to start")
    tracker.states[stream.id].attempt.future.cancel()
    wait_until(lambda: SHARED[token].get("stops") == 1, what="on_stop() of the cancelled attempt")
    wait_until(lambda: tracker.receiver_info(stream.id).attempt == 2 and tracker.receiver_info(stream.id).active,
               what="a new attempt")
    assert [i.attempt for i in events.started] == [1, 2]


def test_a_receiver_stream_cannot_be_recovered_from_a_checkpoint(client, tmp_path, token):
    from dstreams.checkpoint import CheckpointError

    ssc = StreamingContext(client, 1, clock=ManualClock())
    ssc.checkpoint(str(tmp_path))
    stream = ssc.receiver_stream(CountingReceiver(token, 2))
    stream.count().foreach_rdd(lambda rdd: SHARED[token].setdefault("counts", []).append(rdd.collect()))
    try:
        ssc.start()
        wait_until(lambda: ssc.runtime.receiver_tracker.num_records_received(stream.id) == 2, what="2 records")
        run_batches(ssc, 1)
    finally:
        ssc.stop(stop_client=False)
    assert SHARED[token]["counts"] == [[2]]
    with pytest.raises(CheckpointError, match=r"'receiver-0' \(ReceiverInputDStream: its blocks live only in the "
                                              r"workers' memory; receiver_stream\(\.\.\., write_ahead_log=True\)"):
        StreamingContext.get_or_create(str(tmp_path), lambda: None, client=client)


class FloodReceiver(ThreadedReceiver):
    """Stores records as fast as it is let, noting when each store returned."""

    def produce(self):
        times = self.shared.setdefault("times", [])
        i = 0
        while not self.is_stopped():
            self.store(i)
            times.append(time.monotonic())
            i += 1


def test_backpressure_starts_at_the_initial_rate_then_follows_batch_times(client, token):
    """Real time: the PID estimator needs real processing delays (a manual clock makes them 0)."""
    from dstreams import StreamingContext

    ssc = StreamingContext(client, batch_interval=0.2)
    try:
        stream = ssc.receiver_stream(FloodReceiver(token), backpressure=True, initial_rate=50, min_rate=10)
        stream.foreach_rdd(lambda rdd: rdd.count())
        ssc.start()
        times = wait_until(lambda: len(SHARED[token].get("times", ())) >= 20 and SHARED[token]["times"],
                           what="20 stores")
        first = times[:20]
        assert first[-1] - first[0] >= 19 / 50 - 0.01  # at most 50 records/s before batches say more
        wait_until(lambda: stream.rate_limit != 50, timeout=30, what="the PID estimator to set a new rate")
        assert stream.rate_limit >= 10  # never below min_rate
        rate = stream.rate_limit
        n = len(SHARED[token]["times"])
        wait_until(lambda: len(SHARED[token]["times"]) >= n + 20, what="20 more stores")
        later = SHARED[token]["times"][n:n + 20]
        assert later[-1] - later[0] >= 19 / max(rate, stream.rate_limit) * 0.5  # the new rate is applied
    finally:
        ssc.stop(stop_client=False)
