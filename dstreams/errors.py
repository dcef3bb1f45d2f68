"""The errors dstreams raises, in one hierarchy.

Catch :class:`StreamingError` for anything dstreams itself reports; catch a subclass to handle one
kind of failure. Code decides by these types, never by an error's message::

    StreamingError (RuntimeError)
    ├── BatchFailedError             a batch failed: an output operation, or building the batch, raised
    ├── CheckpointError              a checkpoint could not be written or used
    │   ├── CheckpointVersionError   written by another Python or dstreams version: not unpickled
    │   ├── CheckpointSignatureError its signature is missing or wrong: not unpickled
    │   └── CheckpointUnreadableError no checkpoint of the directory could be loaded
    ├── ReceiverError                a receiver failed for good, or cannot run or store
    │   └── WALError                 a write-ahead log record is missing, torn or corrupt
    ├── KafkaSourceError             the Kafka source or sink; its subclasses are in dstreams.kafka
    │                                (KafkaParamsError is also a ValueError, KafkaUnavailableError a
    │                                ConnectionError, ...)
    ├── PoolTimeoutError (TimeoutError)  a connection pool had no free connection in time
    └── PoolClosedError              a connection pool was closed
"""
from __future__ import annotations

__all__ = [
    "BatchFailedError",
    "CheckpointError",
    "CheckpointSignatureError",
    "CheckpointUnreadableError",
    "CheckpointVersionError",
    "KafkaSourceError",
    "PoolClosedError",
    "PoolTimeoutError",
    "ReceiverError",
    "StreamingError",
    "WALError",
]


class StreamingError(RuntimeError):
    """Base class of the errors dstreams raises of its own."""


class BatchFailedError(StreamingError):
    """A batch failed: an output operation (or building the batch) raised.

    ``batch_time_ms``, ``operation`` and the original exception (as ``__cause__``) say what and where.
    """

    def __init__(self, message, batch_time_ms=None, operation=None):
        super().__init__(message)
        self.batch_time_ms = batch_time_ms
        self.operation = operation


class CheckpointError(StreamingError):
    """A checkpoint could not be written or used: it names the file and how to go on."""


class CheckpointVersionError(CheckpointError):
    """The checkpoint was written by another Python or dstreams version.

    It is not unpickled, and an older checkpoint is not tried in its place: the newest state would
    be lost without anyone noticing.
    """


class CheckpointSignatureError(CheckpointError):
    """The checkpoint's signature is missing or does not match ``checkpoint_key``: it is not unpickled."""


class CheckpointSecretError(CheckpointError):
    """The checkpoint needs secret settings (passwords, tokens) that are never written to one and were not
    given again (``get_or_create(..., secrets=...)``)."""


class CheckpointUnreadableError(CheckpointError):
    """No checkpoint in the directory could be loaded (corrupt, or the code it refers to changed):
    ``get_or_create`` then resumes from the snapshot, as for a new version of the application."""


class ReceiverError(StreamingError):
    """A receiver failed and is not restarted again, cannot run, or cannot store."""


class WALError(ReceiverError):
    """A write-ahead log record could not be read back: its file or segment is missing or corrupt."""


class KafkaSourceError(StreamingError):
    """Base class of the errors of dstreams' Kafka source and sink (see :mod:`dstreams.kafka`)."""


class PoolTimeoutError(TimeoutError, StreamingError):
    """Every connection of the pool stayed in use for the whole borrowing timeout.

    ``TimeoutError`` comes first: an exception class whose first bases are ``RuntimeError`` and then
    ``OSError`` cannot be rebuilt by the pickling (tblib's) that carries it from a worker to the driver.
    """


class PoolClosedError(StreamingError):
    """The pool was closed (its worker is shutting down, or ``close()`` was called)."""
