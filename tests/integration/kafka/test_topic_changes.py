"""The direct stream when a topic is missing, deleted, or comes back smaller (bug 6 of issue 10)."""
import operator
import time
import uuid

import pytest
from kafka import KafkaProducer

from dstreams import BatchFailedError, StreamingListener
from dstreams.kafka import OffsetRange, OffsetsTruncatedError, create_direct_stream
from dstreams.testing import run_batches


class InputInfos(StreamingListener):
    def __init__(self):
        self.metadata = []

    def on_batch_completed(self, info):
        self.metadata.append([i.metadata for i in info.input_info.values()])


def _send(kafka_broker, topic, values, partition=0):
    """Produce with a fresh, non-idempotent producer: a recreated topic restarts its sequence numbers,
    which the broker's pooled idempotent producer does not expect."""
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, enable_idempotence=False)
    try:
        for v in values:
            producer.send(topic, v.encode(), partition=partition).get(timeout=30)
    finally:
        producer.close(timeout=5)


def _delete(kafka_broker, topic, timeout_s=30.0):
    admin = kafka_broker.admin()
    admin.delete_topics([topic])
    deadline = time.monotonic() + timeout_s
    while topic in admin.list_topics():
        assert time.monotonic() < deadline, f"topic {topic} still listed {timeout_s}s after deleting it"
        time.sleep(0.05)


def _counted(stream):
    """Per batch: (offset ranges, sorted (value, count) after a shuffle, windowed counts, join size)."""
    out = []
    pairs = stream.map(lambda r: (r.value.decode(), 1))
    counts = pairs.reduce_by_key(operator.add)
    windowed = pairs.reduce_by_key_and_window(operator.add, None, 2, 1)
    joined = counts.join(counts)
    batch = {}
    stream.foreach_rdd(lambda rdd: batch.update(ranges=rdd.offset_ranges))
    counts.foreach_rdd(lambda rdd: batch.update(counts=sorted(rdd.collect())))
    windowed.foreach_rdd(lambda rdd: batch.update(window=sorted(rdd.collect())))
    joined.foreach_rdd(lambda rdd: out.append((batch["ranges"], batch["counts"], batch["window"], rdd.count())))
    return out


def test_a_missing_topic_gives_empty_batches_through_shuffles_until_it_appears(kssc, kafka_params, kafka_broker):
    name = f"not-yet-{uuid.uuid4().hex[:8]}"
    batches = _counted(create_direct_stream(kssc, [name], kafka_params, starting_offsets="earliest"))
    run_batches(kssc, 2)
    assert batches == [((), [], [], 0), ((), [], [], 0)]
    kafka_broker.create_topic(name, 2)
    _send(kafka_broker, name, ["a", "b", "a"], partition=1)
    run_batches(kssc, 1)
    assert batches[2] == ((OffsetRange(name, 0, 0, 0), OffsetRange(name, 1, 0, 3)), [("a", 2), ("b", 1)],
                          [("a", 2), ("b", 1)], 2)


def test_a_pattern_before_its_first_topic_gives_empty_batches(kssc, kafka_params, kafka_broker):
    import re

    prefix = f"later-{uuid.uuid4().hex[:8]}"
    batches = _counted(create_direct_stream(kssc, re.compile(prefix + "-.*"), kafka_params,
                                            starting_offsets="earliest"))
    run_batches(kssc, 1)
    kafka_broker.create_topic(f"{prefix}-x", 1)
    _send(kafka_broker, f"{prefix}-x", ["z"])
    run_batches(kssc, 1)
    assert [b[1] for b in batches] == [[], [("z", 1)]]


def _shrink(kssc, kafka_params, kafka_broker, topic, **options):
    """Read a 3-partition topic, delete it (a batch runs meanwhile), recreate it with 1 partition holding one
    record. Returns the stream's batches and the listener."""
    name = topic(partitions=3)
    _send(kafka_broker, name, ["a", "b", "c", "d"], partition=0)
    _send(kafka_broker, name, ["x"], partition=2)
    stream = create_direct_stream(kssc, [name], kafka_params, starting_offsets="earliest", **options)
    batches = _counted(stream)
    listener = InputInfos()
    kssc.add_listener(listener)
    run_batches(kssc, 1)
    _delete(kafka_broker, name)
    run_batches(kssc, 1)  # the topic is missing: an empty batch, the offsets kept
    kafka_broker.create_topic(name, 1)
    _send(kafka_broker, name, ["new"], partition=0)
    return name, batches, listener


def test_a_topic_recreated_smaller_fails_the_batch_naming_partitions_and_offsets(kssc, kafka_params, kafka_broker,
                                                                                 topic):
    name, batches, _ = _shrink(kssc, kafka_params, kafka_broker, topic)
    assert [b[0] for b in batches] == [tuple(OffsetRange(name, p, 0, n) for p, n in enumerate((4, 0, 1))), ()]
    with pytest.raises(BatchFailedError) as failed:
        run_batches(kssc, 1)
    error = failed.value.__cause__
    assert isinstance(error, OffsetsTruncatedError)
    assert [(t.topic, t.partition, t.expected, t.found) for t in error.truncations] == [
        (name, 0, 4, 1), (name, 1, 0, None), (name, 2, 1, None)]
    message = str(error)
    assert f"{name}-0 was to be read from offset 4, but its log now ends at offset 1" in message
    assert f"topic {name!r} has no partition 2 any more" in message
    assert "on_truncation='reset'" in message


def test_a_topic_recreated_smaller_is_read_from_its_start_on_request(kssc, kafka_params, kafka_broker, topic,
                                                                      caplog):
    name, batches, listener = _shrink(kssc, kafka_params, kafka_broker, topic, on_truncation="reset")
    with caplog.at_level("WARNING", logger="dstreams"):
        run_batches(kssc, 1)
    assert batches[2][:2] == ((OffsetRange(name, 0, 0, 1),), [("new", 1)])
    assert listener.metadata[2][0]["offset_resets"] == {
        f"{name}-0": {"expected": 4, "found": 1, "reset_to": 0},
        f"{name}-1": {"expected": 0, "found": None, "reset_to": None},
        f"{name}-2": {"expected": 1, "found": None, "reset_to": None},
    }
    assert "offset_resets" not in listener.metadata[1][0]
    warned = [r.getMessage() for r in caplog.records if "on_truncation='reset'" in r.getMessage()]
    assert len(warned) == 3 and "reading it again from offset 0" in warned[0]
    _send(kafka_broker, name, ["more"], partition=0)
    run_batches(kssc, 1)
    assert batches[3][:2] == ((OffsetRange(name, 0, 1, 2),), [("more", 1)])


def test_on_truncation_is_checked(kssc, kafka_params):
    with pytest.raises(ValueError, match="on_truncation must be 'fail'.*or 'reset'.*got 'skip'"):
        create_direct_stream(kssc, ["t"], kafka_params, on_truncation="skip")
