"""Records a deserializer fails on: fail naming them, skip them, or send them to a dead-letter topic (bug 7)."""
import json

import pytest
from kafka import KafkaConsumer, TopicPartition

from dstreams import BatchFailedError, StreamingListener
from dstreams.kafka import DeadLetter, KafkaParamsError, OffsetRange, RecordDeserializationError, create_direct_stream
from dstreams.testing import run_batches

VALUES = ['{"n": 0}', '{"n": 1}', "not json", '{"n": 3}', "{broken", '{"n": 5}']


class InputInfos(StreamingListener):
    def __init__(self):
        self.metadata = []

    def on_batch_completed(self, info):
        self.metadata.extend(i.metadata for i in info.input_info.values())


def _stream(kssc, kafka_params, kafka_broker, topic, **options):
    name = topic(1)
    kafka_broker.produce(name, VALUES, partition=0)
    params = dict(kafka_params, value_deserializer=json.loads)
    stream = create_direct_stream(kssc, [name], params, starting_offsets="earliest", **options)
    values = []
    stream.foreach_rdd(lambda rdd: values.append(sorted(r.value["n"] for r in rdd.collect())))
    listener = InputInfos()
    kssc.add_listener(listener)
    return name, values, listener


def test_a_poison_record_fails_the_batch_with_advice_that_loses_nothing(kssc, kafka_params, kafka_broker, topic):
    name, _, _ = _stream(kssc, kafka_params, kafka_broker, topic)
    with pytest.raises(BatchFailedError) as failed:
        run_batches(kssc, 1)
    error = failed.value.__cause__
    assert isinstance(error, RecordDeserializationError)
    assert (error.topic, error.partition, error.offset, error.field) == (name, 0, 2, "value")
    assert error.offset_range == OffsetRange(name, 0, 0, 6)
    message = str(error)
    assert f"offset 2 of {name}-0" in message
    assert "restarting after offset 2 would lose offsets 0..1" in message
    assert "on_deserialization_error='skip'" in message and "DeadLetter(" in message


def _left_out(metadata, action):
    errors = metadata["deserialization_errors"]
    return errors[action], [(r["offset"], r["field"], r["action"], r["error"].split(":")[0]) for r in errors["records"]]


def test_skipped_records_are_counted_in_the_batch_info_and_logged(kssc, kafka_params, kafka_broker, topic, caplog):
    name, values, listener = _stream(kssc, kafka_params, kafka_broker, topic, on_deserialization_error="skip")
    with caplog.at_level("WARNING", logger="dstreams"):
        run_batches(kssc, 1)
    assert values == [[0, 1, 3, 5]]
    assert _left_out(listener.metadata[0], "skipped") == (
        2, [(2, "value", "skipped", "JSONDecodeError"), (4, "value", "skipped", "JSONDecodeError")])
    assert listener.metadata[0]["deserialization_errors"]["dead_lettered"] == 0
    logged = [r.getMessage() for r in caplog.records if "on_deserialization_error='skip'" in r.getMessage()]
    assert [f"offset {o} of {name}-0" in m for o, m in zip((2, 4), logged, strict=True)] == [True, True]
    kafka_broker.produce(name, ['{"n": 6}'], partition=0)
    run_batches(kssc, 1)  # a clean batch has nothing to report
    assert values[1] == [6] and "deserialization_errors" not in listener.metadata[1]


def test_dead_lettered_records_are_written_raw_with_where_they_came_from(kssc, kafka_params, kafka_broker, topic):
    dead = topic(1)
    name, values, listener = _stream(kssc, kafka_params, kafka_broker, topic,
                                     on_deserialization_error=DeadLetter(dead))
    run_batches(kssc, 1)
    assert values == [[0, 1, 3, 5]]
    assert _left_out(listener.metadata[0], "dead_lettered")[0] == 2
    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap_servers, enable_auto_commit=False)
    try:
        tp = TopicPartition(dead, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        records = consumer.poll(timeout_ms=10_000).get(tp, [])
    finally:
        consumer.close()
    assert [r.value for r in records] == [b"not json", b"{broken"]
    headers = [dict(r.headers) for r in records]
    assert [h["dstreams.offset"] for h in headers] == [b"2", b"4"]
    assert {h["dstreams.topic"] for h in headers} == {name.encode()}
    assert all(h["dstreams.field"] == b"value" and h["dstreams.error"].startswith(b"JSONDecodeError") for h in headers)


@pytest.mark.parametrize("policy", ["ignore", None, 3, "FAIL"])
def test_on_deserialization_error_is_checked(kssc, kafka_params, policy):
    with pytest.raises(KafkaParamsError, match=r"on_deserialization_error must be 'fail'.*got " + repr(policy)):
        create_direct_stream(kssc, ["t"], kafka_params, on_deserialization_error=policy)


def test_dead_letter_topic_is_checked():
    with pytest.raises(KafkaParamsError, match="DeadLetter topic must be a non-empty topic name, got ''"):
        DeadLetter("")
