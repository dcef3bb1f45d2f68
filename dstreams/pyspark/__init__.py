"""PySpark's streaming API over dstreams: PySpark's names, signatures and semantics, no logic of its own.

Port a PySpark Streaming program by changing its imports::

    from dstreams.pyspark import SparkContext, StreamingContext

Each facade object holds the dstreams object it renames (``ssc.ssc``, ``stream.dstream``, ``rdd.rdd``,
``sc.client``), to mix both styles. The mapping, name by name, is in :mod:`dstreams.pyspark.names` and the
programming guide.
"""
from .conf import SparkConf
from .context import Broadcast, SparkContext, StorageLevel, StreamingContext
from .dstream import DStream
from .listener import StreamingListener
from .rdd import RDD

__all__ = ["Broadcast", "DStream", "RDD", "SparkConf", "SparkContext", "StorageLevel", "StreamingContext",
           "StreamingListener"]
