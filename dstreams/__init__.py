"""dstreams: Spark Streaming's discretized streams (DStreams) on Dask."""
from .context import StreamingContext, StreamingContextState
from .dstream.base import DStream
from .dstream.stateful import State, StateSpec
from .listener import BatchInfo, OutputOperationInfo, ReceiverInfo, StreamingListener
from .pool import ConnectionPool
from .rdd import RDD
from .receiver.api import Receiver
from .scheduler.jobs import BatchFailedError, StreamingError

__version__ = "0.1.0"

__all__ = [
    "BatchFailedError",
    "BatchInfo",
    "ConnectionPool",
    "DStream",
    "OutputOperationInfo",
    "RDD",
    "Receiver",
    "ReceiverInfo",
    "State",
    "StateSpec",
    "StreamingContext",
    "StreamingContextState",
    "StreamingError",
    "StreamingListener",
]
