"""KafkaRDD: one batch of a direct stream, one Dask partition per Kafka offset range."""
from __future__ import annotations

from dask.highlevelgraph import HighLevelGraph, MaterializedLayer

from ..._compat import Task
from ...rdd import ATTRIBUTE_HINTS, RDD
from .consumer import read_range

ATTRIBUTE_HINTS["offset_ranges"] = (
    "Kafka offset ranges exist on the RDDs of a Kafka direct stream and inside transform() before any "
    "shuffle; read rdd.offset_ranges in the first foreach_rdd or transform on the stream returned by "
    "create_direct_stream")


class KafkaRDD(RDD):
    """The records of one batch: partition ``i`` reads ``offset_ranges[i]`` on a worker.

    ``rdd.offset_ranges`` lists the ranges; it exists on this RDD (and inside ``transform``), not on
    RDDs derived from it, as in Spark (``HasOffsetRanges``).
    """

    def __init__(self, graph, name, offset_ranges, client=None):
        super().__init__(graph, name, len(offset_ranges), client)
        self._offset_ranges = tuple(offset_ranges)
        self.origins = self._offset_ranges

    @classmethod
    def build(cls, name, kafka_params, offset_ranges, poll_timeout_ms, client, workers=None,
              on_deserialization_error="fail", reporting=None):
        """The RDD reading ``offset_ranges``; ``workers[i]``, when given, is the worker that should read
        range ``i`` (another one may, if it is gone): see :mod:`.placement`. ``on_deserialization_error``
        and ``reporting`` go to :func:`.consumer.read_range`."""
        layer = {
            (name, i): Task((name, i), read_range, kafka_params, r, poll_timeout_ms, on_deserialization_error,
                            reporting)
            for i, r in enumerate(offset_ranges)
        }
        annotations = None
        if workers is not None:
            where = {(name, i): [w] for i, w in enumerate(workers) if w is not None}
            annotations = {"workers": where.get, "allow_other_workers": True}
        graph = HighLevelGraph({name: MaterializedLayer(layer, annotations=annotations)}, {name: set()})
        return cls(graph, name, offset_ranges, client)

    @property
    def offset_ranges(self):
        """The ``OffsetRange`` of each partition, in partition order."""
        return self._offset_ranges

    def _rebuild(self, dsk, *args, rename=None):
        return KafkaRDD(dsk, self.name, self._offset_ranges, self.client)

    def __repr__(self):
        return f"KafkaRDD<{self.name}, {', '.join(map(str, self._offset_ranges))}>"
