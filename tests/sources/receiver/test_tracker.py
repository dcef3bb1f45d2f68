"""The tracker's decisions on how a receiver's task ended, with real futures."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from distributed import KilledWorker

from dstreams.sources.receiver.tracker import ReceiverTracker, _Attempt
from dstreams.testing import ManualClock


def _fail(exc):
    raise exc


@pytest.mark.parametrize("exc,excluded", [
    (KilledWorker("receiver-task-0", SimpleNamespace(address="tcp://w:1"), 0), {"tcp://w:1"}),
    (ValueError("the receiver's task failed"), set()),
])
def test_a_worker_that_killed_the_receiver_task_is_excluded_from_its_restarts(client, exc, excluded):
    stream = SimpleNamespace(id=0, receiver_name="R-0", max_restarts=3, restart_delay=0.0)
    tracker = ReceiverTracker(SimpleNamespace(client=client, clock=ManualClock(), run_id="t"), [stream])
    state = tracker.states[0]
    future = client.submit(_fail, exc, pure=False)
    future.exception(timeout=30)  # wait for the task to fail
    events, give_up = [], []
    tracker._attempt_ended(state, _Attempt(1, future, "tcp://w:1", None), events, give_up)
    assert state.exclude == excluded
    assert give_up == [] and state.restart_due is not None  # restarted, elsewhere when excluded
    assert [kind for kind, _ in events] == ["on_receiver_error", "on_receiver_stopped"]
    assert type(exc).__name__ in events[0][1].last_error
