"""on_batch_failure: "stop" (dstreams' default) stops at the first failed batch; "continue" (Spark's way) reports
it and runs the next batches."""
from __future__ import annotations

import pytest

from dstreams import BatchFailedError, StreamingContext, StreamingListener
from dstreams.testing import ManualClock, run_batches


def fail_on_one(x):
    if x == 1:
        raise ValueError("This is a special error")
    return x


class Failures(StreamingListener):
    def __init__(self):
        self.batches, self.errors = [], []

    def on_batch_completed(self, info):
        self.batches.append(info.failure_reason)

    def on_streaming_error(self, error):
        self.errors.append(error)


def test_continue_runs_the_batches_after_a_failed_one(client):
    ssc = StreamingContext(client, batch_interval=1, clock=ManualClock(), on_batch_failure="continue")
    listener = Failures()
    ssc.add_listener(listener)
    out = []
    try:
        ssc.queue_stream([[0], [1], [2], [3]]).map(fail_on_one).foreach_rdd(lambda rdd: out.append(rdd.collect()))
        run_batches(ssc, 4)  # the failed second batch does not stop the run
        assert out == [[0], [2], [3]]
        assert [reason is not None for reason in listener.batches] == [False, True, False, False]
        assert len(listener.errors) == 1 and "This is a special error" in str(listener.errors[0])
        with pytest.raises(BatchFailedError, match="This is a special error"):
            ssc.await_termination(5)  # raises the failure at once; the context still runs
        assert ssc.state.value == "active"
    finally:
        ssc.stop(stop_client=False)


def test_stop_is_the_default(client):
    ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())
    out = []
    try:
        ssc.queue_stream([[0], [1], [2]]).map(fail_on_one).foreach_rdd(lambda rdd: out.append(rdd.collect()))
        with pytest.raises(BatchFailedError, match="This is a special error"):
            run_batches(ssc, 3)
        assert out == [[0]] and ssc.state.value == "stopped"
    finally:
        ssc.stop(stop_client=False)


def test_on_batch_failure_is_checked(client):
    with pytest.raises(ValueError, match="'stop' or 'continue'"):
        StreamingContext(client, on_batch_failure="ignore")
