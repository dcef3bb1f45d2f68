"""Creating kafka-python clients within a deadline: brokers that never answer, a host name lookup that never
returns. Each case fails in a few seconds with an error naming the brokers and what to check."""

import socket
import threading
import time

import pytest
from kafka.errors import KafkaTimeoutError

from dstreams.sources.kafka import clients, sink
from dstreams.sources.kafka.clients import KafkaUnavailableError, open_client, open_consumer
from dstreams.sources.kafka.offsets import OffsetRange

DEADLINE_MS = 1_000


@pytest.fixture
def black_hole():
    """A local address that takes connections (the kernel completes them) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"127.0.0.1:{s.getsockname()[1]}"


def fails_at_the_deadline(create, servers: str, deadline_ms: int = DEADLINE_MS) -> KafkaUnavailableError:
    started = time.monotonic()
    with pytest.raises(KafkaUnavailableError) as info:
        create()
    assert time.monotonic() - started < (deadline_ms + clients._LATE_MS) / 1000 + 1  # 1 s for a loaded machine
    message = str(info.value)
    assert f"Kafka brokers at {servers} did not answer within {deadline_ms / 1000:.1f}s while " in message
    assert "Check that the brokers are running and reachable from this machine (host name resolution" in message
    return info.value


def test_a_consumer_for_brokers_that_never_answer_fails_at_its_deadline(black_hole):
    error = fails_at_the_deadline(
        lambda: open_consumer({"bootstrap_servers": black_hole}, timeout_ms=DEADLINE_MS, purpose="a test"), black_hole)
    assert "while connecting for a test" in str(error)
    assert isinstance(error.__cause__, KafkaTimeoutError)  # kafka-python's own deadline (bootstrap_timeout_ms)


def read_committed(params):
    return sink._committed(params, "g", [OffsetRange("t", 0, 0, 1)])


@pytest.mark.parametrize("create,settings", [
    (read_committed, {}),
    # with api_version given, kafka-python connects at the first request instead (here: committed())
    (read_committed, {"api_version": (2, 8)}),
    (sink.producer, {}),
    (lambda params: sink.abort_open_transactions(params, ["dstreams-g-t-0"]), {}),
], ids=["committed-offsets-reader", "committed-offsets-reader-given-api_version", "producer", "aborting-producer"])
def test_the_sinks_clients_for_brokers_that_never_answer_fail_at_the_request_timeout(black_hole, create, settings):
    params = {"bootstrap_servers": black_hole, "request_timeout_ms": DEADLINE_MS, **settings}
    fails_at_the_deadline(lambda: create(params), black_hole)


def test_a_host_name_lookup_that_never_returns_is_given_up_after_the_deadline(monkeypatch):
    # kafka-python looks host names up on its network thread; while a lookup blocks, its own bootstrap
    # deadline does not hold (this is how a CI run once hung for ever)
    release = threading.Event()
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == "lookup-hangs.invalid":
            release.wait(60)
            raise socket.gaierror(socket.EAI_AGAIN, "the resolver did not answer")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    servers = "lookup-hangs.invalid:9092"
    try:
        error = fails_at_the_deadline(
            lambda: open_consumer({"bootstrap_servers": servers}, timeout_ms=500, purpose="a test"), servers, 500)
        assert error.__cause__ is None  # given up: kafka-python had not returned
    finally:
        release.set()
    for thread in threading.enumerate():  # the helper ends once kafka-python returns
        if thread.name == "dstreams-kafka-connect":
            thread.join(30)
            assert not thread.is_alive()


def test_a_client_made_after_its_deadline_is_closed():
    release, closed = threading.Event(), threading.Event()

    class SlowClient:  # a client class whose constructor returns only when the test says so
        def __init__(self, **config):
            release.wait(60)

        def close(self):
            closed.set()

    with pytest.raises(KafkaUnavailableError, match="did not answer within 0.1s while connecting for a test"):
        open_client(SlowClient, {"bootstrap_servers": "x:1"}, timeout_ms=100, purpose="a test")
    assert not closed.is_set()
    release.set()
    assert closed.wait(30)
