"""The DStream that PySpark code sees: PySpark's method names over a :class:`dstreams.DStream` (``.dstream``)."""
from __future__ import annotations

from . import names
from ._adapt import install, missing


class DStream:
    """A :class:`dstreams.DStream` with PySpark's method names and arguments; ``.dstream`` is the dstreams stream.

    Examples
    --------
    >>> counts = lines.flatMap(lambda l: l.split()).map(lambda w: (w, 1)).reduceByKey(add)  # doctest: +SKIP
    """

    _attribute = "dstream"

    def __init__(self, dstream):
        self.dstream = dstream

    @property
    def _dstreams_object(self):
        return self.dstream

    def context(self):
        """The facade StreamingContext this stream belongs to."""
        from .context import StreamingContext

        return StreamingContext._of(self.dstream.ssc)

    def __getattr__(self, name):
        raise missing(type(self), name)

    def __repr__(self):
        return f"<pyspark DStream over {self.dstream!r}>"


install(DStream, names.DSTREAM, "dstream")
