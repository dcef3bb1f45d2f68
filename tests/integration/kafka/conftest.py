"""Fixtures of the Kafka integration tests."""
import pytest

from dstreams import StreamingContext
from dstreams.testing import ManualClock


@pytest.fixture
def kssc(client):
    """A StreamingContext with a 1 s batch interval on a ManualClock; stopped after the test."""
    ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())
    yield ssc
    ssc.stop(stop_client=False)
