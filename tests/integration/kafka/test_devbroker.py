"""DevBroker: the noida-db broker used by tests and the demo."""

import socket

import pytest
from kafka import TopicPartition

from dstreams.dev.broker import DevBroker, DevBrokerError
from dstreams.sources.kafka.consumer import consumer_cache_stats, read_range
from dstreams.sources.kafka.metadata import KafkaMetadata
from dstreams.sources.kafka.offsets import OffsetRange


def test_restart_keeps_data_and_reading_resumes(tmp_path):
    data_dir = tmp_path / "broker-data"
    with DevBroker(data_dir) as broker:
        assert broker.data_dir == data_dir and broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
        broker.create_topic("events", partitions=1)
        broker.produce("events", [f"e{i}" for i in range(5)], partition=0)
        params = {"bootstrap_servers": broker.bootstrap_servers}
        before = consumer_cache_stats()
        first = read_range(params, OffsetRange("events", 0, 0, 3))
        assert [r.value for r in first] == [b"e0", b"e1", b"e2"]

        port = broker.port
        broker.restart()
        assert broker.running and broker.port == port

        with KafkaMetadata(params, timeout_ms=10_000) as meta:
            tp = TopicPartition("events", 0)
            assert meta.partitions(topics=["events"]) == [tp]
            assert meta.latest_offsets([tp]) == {tp: 5}
        broker.produce("events", ["e5", "e6"], partition=0)
        rest = read_range(params, OffsetRange("events", 0, 3, 7), poll_timeout_ms=15_000)
        assert [(r.offset, r.value) for r in rest] == [(3, b"e3"), (4, b"e4"), (5, b"e5"), (6, b"e6")]
        assert consumer_cache_stats()["created"] - before["created"] == 1  # the cached consumer reconnected
        broker.stop()
        assert not broker.running
        broker.stop()  # idempotent
    assert data_dir.exists()  # a given data dir is never removed


def test_temporary_data_dir_is_removed_on_close():
    broker = DevBroker().start()
    try:
        data_dir = broker.data_dir
        assert data_dir.is_dir() and broker.last_startup_seconds < 30
        with pytest.raises(DevBrokerError, match="already running"):
            broker.start()
    finally:
        broker.close()
    assert not data_dir.exists() and not broker.running


def test_start_failure_reports_the_broker_output():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = DevBroker(port=port, startup_timeout=20)
        with pytest.raises(DevBrokerError) as info:
            broker.start()
        broker.close()
    message = str(info.value)
    assert f"DevBroker at 127.0.0.1:{port}" in message and "did not start" in message
    assert f"port {port} is already in use" in message  # noida-db's own words
    assert "GLIBC" not in message
    assert not broker.running


def test_port_and_data_dir_need_a_start():
    broker = DevBroker()
    with pytest.raises(DevBrokerError, match="call start"):
        _ = broker.bootstrap_servers
    with pytest.raises(DevBrokerError, match="call start"):
        _ = broker.data_dir


def test_produce_reaches_partitions_added_later(kafka_broker, topic):
    t = topic(partitions=1)
    assert kafka_broker.produce(t, ["a", b"b"], partition=0) == [(0, 0), (0, 1)]
    kafka_broker.add_partitions(t, 3)
    assert kafka_broker.produce(t, ["c"], partition=2, key="k") == [(2, 0)]
    with KafkaMetadata({"bootstrap_servers": kafka_broker.bootstrap_servers}) as meta:
        parts = [TopicPartition(t, p) for p in range(3)]
        assert meta.latest_offsets(parts) == dict(zip(parts, [2, 0, 1], strict=True))
