"""Kafka for dstreams: the direct stream (no receivers) and its offset ranges.

Examples
--------
>>> from dstreams.kafka import create_direct_stream
>>> stream = create_direct_stream(ssc, ["events"], {"bootstrap_servers": "127.0.0.1:9092",
...                                                 "group_id": "wordcount"})  # doctest: +SKIP
>>> def show(time, rdd):
...     for o in rdd.offset_ranges:
...         print(o.topic, o.partition, o.from_offset, o.until_offset)
>>> stream.foreach_rdd(show)  # doctest: +SKIP
>>> stream.foreach_rdd(lambda rdd: stream.commit_async(rdd.offset_ranges))  # doctest: +SKIP
"""
from __future__ import annotations

from .sources.kafka.clients import KafkaParamsError, KafkaUnavailableError
from .sources.kafka.consumer import consumer_cache_stats
from .sources.kafka.deserialization import DeadLetter, RecordDeserializationError
from .sources.kafka.metadata import KafkaCommitError
from .sources.kafka.offsets import (
    KafkaSourceError,
    OffsetRange,
    OffsetsBeyondLogEndError,
    OffsetsDeletedError,
    OffsetsUnavailableError,
)
from .sources.kafka.rdd import KafkaRDD
from .sources.kafka.secrets import Secret
from .sources.kafka.sink import producer_pool_stats, write
from .sources.kafka.stream import DirectKafkaInputDStream
from .sources.kafka.truncation import OffsetsTruncatedError


def create_direct_stream(ssc, topics, kafka_params, starting_offsets=None, max_rate_per_partition=None,
                         backpressure=False, initial_rate=None, min_rate=100.0, poll_timeout_ms=30_000,
                         on_missing_offsets="error", broker_wait_s=120.0, on_truncation="fail",
                         on_deserialization_error="fail"):
    """A stream of Kafka records with one Dask partition per Kafka partition and no receivers.

    Parameters
    ----------
    ssc : StreamingContext
    topics : list of str or re.Pattern
        Topic names, or a compiled regular expression matching whole topic names. Partitions added
        later, and new topics matching the pattern, are read from their start at the next batch.
    kafka_params : dict
        kafka-python ``KafkaConsumer`` settings (``bootstrap_servers``, ``group_id``,
        ``security_protocol``, ``ssl_*``, ``sasl_*``, ``key_deserializer``, ``value_deserializer``,
        ``isolation_level``, ...), copied and never changed. Auto-commit is always off: asking for it
        is an error. Deserializers run on the workers.
    starting_offsets : "earliest", "latest", dict or None
        Where to start: the log's start or end, or ``{TopicPartition or (topic, partition): offset}``.
        Partitions not given start at the group's committed offset, else by ``auto_offset_reset``
        (``"latest"`` unless set), as in Spark.
    max_rate_per_partition : float, optional
        At most this many records per second per partition in a batch.
    backpressure : bool
        Adapt the rate to how fast batches are processed (Spark's PID estimator).
    initial_rate : float, optional
        With backpressure, the records/s of the first batch.
    min_rate : float
        With backpressure, the rate never falls below this (records/s).
    poll_timeout_ms : int
        How long a worker waits for a range's records before failing the batch.
    broker_wait_s : float
        While the brokers cannot be reached, the driver retries its offset requests with backoff for up
        to this many seconds before failing the batch.
    on_missing_offsets : "error" or "earliest"
        When the next offsets to read were already deleted by retention: fail the batch with an error
        naming topic, partition, wanted and earliest offset (default), or skip to the earliest available
        offset with a warning, recording the skip in the batch's ``BatchInfo.input_info`` metadata.
    on_truncation : "fail" or "reset"
        When a partition's log ends below the next offset to read (the topic was deleted and recreated, a
        broker lost its data) or a partition is gone from a topic that still exists: fail the batch with
        an :class:`OffsetsTruncatedError` naming topic, partition, expected and found offsets (default), or
        read the partition again from its log start (drop a partition that is gone) with a warning,
        recording ``{"topic-partition": {"expected": ..., "found": ..., "reset_to": ...}}`` under
        ``"offset_resets"`` in the batch's ``BatchInfo.input_info`` metadata. A topic missing as a whole
        is skipped (its batches are empty) until it comes back.
    on_deserialization_error : "fail", "skip" or DeadLetter
        When ``key_deserializer`` / ``value_deserializer`` raises on a record: fail the batch with a
        :class:`RecordDeserializationError` naming topic, partition and offset (default); leave the record
        out of the batch (``"skip"``); or write it, raw, to a dead-letter topic and leave it out
        (``DeadLetter("topic")``). Records left out are logged on the worker and counted in the batch's
        ``BatchInfo.input_info`` metadata under ``"deserialization_errors"``.

    Returns
    -------
    DirectKafkaInputDStream
        Each batch is a :class:`KafkaRDD` of kafka-python ``ConsumerRecord`` s, with ``offset_ranges``.
        ``stream.commit_async(ranges, callback=None)`` commits them for ``group_id``.
    """
    return DirectKafkaInputDStream(ssc, topics, kafka_params, starting_offsets, max_rate_per_partition,
                                   backpressure, initial_rate, min_rate, poll_timeout_ms,
                                   broker_wait_s=broker_wait_s, on_missing_offsets=on_missing_offsets,
                                   on_truncation=on_truncation, on_deserialization_error=on_deserialization_error)


__all__ = [
    "Secret",
    "DeadLetter",
    "DirectKafkaInputDStream",
    "KafkaCommitError",
    "KafkaParamsError",
    "KafkaRDD",
    "KafkaSourceError",
    "KafkaUnavailableError",
    "OffsetRange",
    "OffsetsBeyondLogEndError",
    "OffsetsDeletedError",
    "OffsetsTruncatedError",
    "OffsetsUnavailableError",
    "RecordDeserializationError",
    "consumer_cache_stats",
    "create_direct_stream",
    "producer_pool_stats",
    "write",
]
