"""One error hierarchy: every dstreams error is a StreamingError, keeps its old import path and its builtin
bases, and reaches the driver from a worker process with its type, message and attributes."""
from __future__ import annotations

import importlib
import json

import pytest
from kafka.consumer.fetcher import ConsumerRecord

import dstreams
from dstreams import errors
from dstreams.kafka import (
    KafkaCommitError,
    KafkaParamsError,
    KafkaSourceError,
    KafkaUnavailableError,
    OffsetRange,
    OffsetsBeyondLogEndError,
    OffsetsDeletedError,
    OffsetsTruncatedError,
    OffsetsUnavailableError,
    RecordDeserializationError,
)
from dstreams.sources.kafka.truncation import Truncation

KAFKA_ERRORS = [KafkaCommitError, KafkaParamsError, KafkaUnavailableError, OffsetsBeyondLogEndError,
                OffsetsDeletedError, OffsetsTruncatedError, OffsetsUnavailableError, RecordDeserializationError]


def test_every_error_is_a_streaming_error_and_keeps_its_builtin_base():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.StreamingError) and issubclass(cls, RuntimeError), name
        assert getattr(dstreams, name) is cls, f"dstreams.{name} is not exported"
    for cls in KAFKA_ERRORS:
        assert issubclass(cls, KafkaSourceError) and issubclass(cls, errors.StreamingError), cls
    assert issubclass(KafkaParamsError, ValueError)  # `except ValueError` callers still catch it
    assert issubclass(KafkaUnavailableError, ConnectionError)
    assert issubclass(errors.PoolTimeoutError, TimeoutError)
    assert issubclass(errors.WALError, errors.ReceiverError)
    for cls in (errors.CheckpointVersionError, errors.CheckpointSignatureError):
        assert issubclass(cls, errors.CheckpointError)


@pytest.mark.parametrize("module,name", [
    ("dstreams.scheduler.jobs", "StreamingError"),
    ("dstreams.scheduler.jobs", "BatchFailedError"),
    ("dstreams.checkpoint", "CheckpointError"),
    ("dstreams.pool", "PoolTimeoutError"),
    ("dstreams.pool", "PoolClosedError"),
    ("dstreams.sources.kafka.offsets", "KafkaSourceError"),
    ("dstreams.sources.receiver.wal", "WALError"),
])
def test_old_import_paths_give_the_same_class(module, name):
    assert getattr(importlib.import_module(module), name) is getattr(errors, name)


_RANGE = OffsetRange("t", 0, 10, 20)
_RECORD = ConsumerRecord("t", 0, 0, 12, 0, 0, b"k", b"{", [], None, 1, 1, 0)


def _samples():
    """``(error, {attribute: value})`` of every error class, as the code raises it."""
    return [
        (errors.BatchFailedError("batch 1000 failed", 1000, "foreach_rdd"),
         {"batch_time_ms": 1000, "operation": "foreach_rdd"}),
        (errors.CheckpointError("no usable checkpoint"), {}),
        (errors.CheckpointVersionError("written by dstreams 0.0.1"), {}),
        (errors.CheckpointSignatureError("failed its signature check"), {}),
        (errors.ReceiverError("receiver R-0 failed 3 time(s)"), {}),
        (errors.WALError("record torn"), {}),
        (errors.PoolTimeoutError("all 1 connection(s) busy"), {}),
        (errors.PoolClosedError("pool is closed"), {}),
        (KafkaParamsError("unknown kafka_params 'x'"), {}),
        (KafkaUnavailableError("no broker answered"), {}),
        (KafkaCommitError("commit refused"), {}),
        (OffsetsDeletedError(_RANGE, 15), {"offset_range": _RANGE, "earliest_available": 15}),
        (OffsetsBeyondLogEndError(_RANGE, 18, 1.0), {"offset_range": _RANGE, "log_end": 18}),
        (OffsetsTruncatedError("kafka-0", [Truncation("t", 0, 20, 3)]),
         {"truncations": [Truncation("t", 0, 20, 3)]}),
        (RecordDeserializationError(_RECORD, "value", json.loads, ValueError("bad"), _RANGE),
         {"topic": "t", "partition": 0, "offset": 12, "field": "value", "offset_range": _RANGE}),
    ]


def _raise(i):
    raise _samples()[i][0]


def test_errors_raised_on_a_worker_process_reach_the_driver_whole(process_client):
    samples = _samples()
    futures = [process_client.submit(_raise, i, pure=False) for i in range(len(samples))]
    for (sent, attributes), future in zip(samples, futures, strict=True):
        got = future.exception(timeout=60)
        assert type(got) is type(sent)
        assert str(got) == str(sent)
        for attribute, value in attributes.items():
            assert getattr(got, attribute) == value, (type(sent).__name__, attribute)
