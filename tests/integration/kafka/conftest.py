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


def _close_pooled_clients(dask_worker=None):
    from dstreams.plugins import worker_plugin

    plugin = worker_plugin(dask_worker)
    if plugin is not None:
        plugin.producers.close_all()
        plugin.consumers.close_all()


@pytest.fixture(autouse=True, scope="module")
def _kafka_clients_closed_after_each_module(client, kafka_broker):
    """Close the Kafka clients this module's streams, sinks and produce() calls left open (pooled on the
    session's workers, or kept by the session's broker object): a producer whose topic a test deleted
    keeps its kafka-python network thread busy, which would slow every later test of the session."""
    yield
    from dstreams.sources.kafka import sink

    client.run(_close_pooled_clients)
    sink._POOL.close_all()
    kafka_broker.close_clients()
