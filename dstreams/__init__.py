"""dstreams: Spark Streaming's discretized streams (DStreams) on Dask."""
from .context import StreamingContext, StreamingContextState
from .dstream.base import DStream
from .dstream.stateful import State, StateSpec
from .errors import (
    BatchFailedError,
    CheckpointError,
    CheckpointSignatureError,
    CheckpointUnreadableError,
    CheckpointVersionError,
    KafkaSourceError,
    PoolClosedError,
    PoolTimeoutError,
    ReceiverError,
    StreamingError,
    WALError,
)
from .listener import BatchInfo, OutputOperationInfo, ReceiverInfo, StreamingListener
from .pool import ConnectionPool
from .rdd import RDD
from .sources.receiver.api import Receiver
from .stats import StatCounter

__version__ = "0.1.0"

__all__ = [
    "BatchFailedError",
    "BatchInfo",
    "CheckpointError",
    "CheckpointSignatureError",
    "CheckpointUnreadableError",
    "CheckpointVersionError",
    "ConnectionPool",
    "DStream",
    "KafkaSourceError",
    "OutputOperationInfo",
    "PoolClosedError",
    "PoolTimeoutError",
    "RDD",
    "Receiver",
    "ReceiverError",
    "ReceiverInfo",
    "State",
    "StateSpec",
    "StatCounter",
    "StreamingContext",
    "StreamingContextState",
    "StreamingError",
    "StreamingListener",
    "WALError",
]
