"""``DStream.to_kafka``: the output operation that writes every batch of a stream to a Kafka topic.

It runs on the driver: it checks the settings when it is called, finds the direct streams the written
stream reads from (their offsets are what a transactional write commits) and hands each batch to
:func:`dstreams.sources.kafka.sink.write`, which writes from the workers.
"""
from __future__ import annotations

from ...dstream.output import ForEachDStream
from . import settings, sink
from .stream import DirectKafkaInputDStream


def to_kafka(stream, topic, producer_params, transactional, group_id, transactional_id_prefix):
    """The output stream that writes ``stream`` to ``topic`` (see :meth:`DStream.to_kafka`)."""
    settings.check_topic_name(topic, "to_kafka() topic")
    from .secrets import protect

    producer_params = protect(producer_params)  # secrets wrapped: never in a checkpoint, a log or a message
    sink._producer_config(producer_params)
    settings.check_flag(transactional, "to_kafka() transactional")
    for what, value in (("group_id", group_id), ("transactional_id_prefix", transactional_id_prefix)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"to_kafka() {what} must be a non-empty string or None, got {value!r}")
        if value is not None and not transactional:
            raise ValueError(f"to_kafka() {what}={value!r} is only used with transactional=True; pass "
                             f"transactional=True, or leave {what} out")
    if transactional and group_id is None:
        raise ValueError("to_kafka(transactional=True) needs group_id: the consumer group whose offsets each "
                         "transaction commits (the group_id of the direct stream), e.g. group_id='wordcount'")
    sources = kafka_sources(stream)

    def write(time, rdd):
        t = int(round(time.timestamp() * 1000))
        ranges = None
        if transactional and len(sources) == 1:
            ranges = sources[0].batch_ranges.get(t)
        consumer_params = dict(sources[0].kafka_params) if len(sources) == 1 else None
        sink.write(rdd, topic, producer_params, transactional, offset_ranges=ranges, group_id=group_id,
                   consumer_params=consumer_params, transactional_id_prefix=transactional_id_prefix)

    if transactional and len(sources) != 1:
        raise ValueError(
            f"to_kafka(transactional=True) commits the input offsets of one Kafka direct stream, but stream "
            f"{stream.label} reads from {len(sources)}; write each direct stream's results separately"
        )
    out = ForEachDStream(stream, write, "to_kafka")

    def on_start():
        from ...plugins import register_kafka_clients

        register_kafka_clients(out.ssc.client)  # the workers close their pooled producers when they stop
        if transactional:  # abort what a dead predecessor left open
            prefix = transactional_id_prefix or sink.default_prefix(group_id, topic)
            sink.abort_open_transactions(producer_params, sink.transactional_ids(prefix, sources[0].current_offsets))

    out.on_start = on_start
    return out


def kafka_sources(stream) -> list[DirectKafkaInputDStream]:
    """The Kafka direct streams that ``stream`` reads from, directly or through its parents."""
    found, todo, seen = [], [stream], set()
    while todo:
        s = todo.pop()
        if id(s) in seen:
            continue
        seen.add(id(s))
        if isinstance(s, DirectKafkaInputDStream):
            found.append(s)
        todo.extend(s.dependencies)
    return found
