"""dstreams: Spark Streaming's discretized streams (DStreams) on Dask."""
from .context import StreamingContext, StreamingContextState
from .dstream.base import DStream
from .dstream.stateful import State, StateSpec
from .listener import BatchInfo, OutputOperationInfo, StreamingListener
from .pool import ConnectionPool
from .rdd import RDD
from .scheduler.jobs import BatchFailedError, StreamingError

__version__ = "0.1.0"

__all__ = [
    "BatchFailedError",
    "BatchInfo",
    "ConnectionPool",
    "DStream",
    "OutputOperationInfo",
    "RDD",
    "State",
    "StateSpec",
    "StreamingContext",
    "StreamingContextState",
    "StreamingError",
    "StreamingListener",
]
