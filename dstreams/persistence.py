"""Keeping an RDD: on the cluster (``persist``, ``cache``, ``unpersist``) or in files (``checkpoint``).

:class:`Persistence` is a base class of :class:`dstreams.RDD`. A persisted RDD's partitions stay in the
workers' memory while it is referenced; a checkpointed one is read back from files under the context's
checkpoint directory (written by :mod:`dstreams.checkpoint`), so its lineage starts there.
"""
from __future__ import annotations

import dask


class Persistence:
    """Persistence and checkpoints of an :class:`~dstreams.RDD` (a base class of it, not used alone)."""

    #: where :meth:`checkpoint` wrote this RDD's partitions (None when it was not checkpointed)
    checkpoint_path: str | None = None

    def persist(self):
        """Compute the partitions on the cluster and keep them there; returns the persisted RDD.

        Later operations on the returned RDD read the kept partitions instead of recomputing them.
        """
        if self._persisted is not None:
            return self
        if self.client is None:
            (out,) = dask.persist(self)
        else:
            out = self.client.persist(self)
        out._persisted = list(out.dask.values()) if self.client is not None else True
        return out

    cache = persist

    def unpersist(self) -> None:
        """Release the partitions kept by :meth:`persist`."""
        futures = self._persisted
        self._persisted = None
        if isinstance(futures, list):
            for f in futures:
                release = getattr(f, "release", None)
                if release is not None:
                    release()

    @property
    def is_persisted(self) -> bool:
        return self._persisted is not None

    def checkpoint(self):
        """Write the partitions under the checkpoint directory of this RDD's StreamingContext, and return an
        RDD that reads them back from there (a reliable checkpoint: its lineage starts at the files).

        The directory is the one given to ``ssc.checkpoint(directory)`` by the context last made on this
        RDD's client; the partitions go to ``<directory>/rdd/<rdd name>/part-NNNNN``, written by the workers,
        and stay there (as in Spark). Unlike Spark, which marks the RDD and writes it at the next action,
        this writes at once and returns the checkpointed RDD: keep the returned one, as with :meth:`persist`.

        Examples
        --------
        >>> ssc.checkpoint("/tmp/app-checkpoint")  # doctest: +SKIP
        >>> saved = ssc.parallelize(range(4), 2).checkpoint()  # doctest: +SKIP
        >>> saved.is_checkpointed, saved.collect()  # doctest: +SKIP
        (True, [0, 1, 2, 3])
        """
        from .checkpoint import read_rdd, write_rdd
        from .context import checkpoint_dir_of, checkpoint_key_of

        if self.is_checkpointed:
            return self
        directory = checkpoint_dir_of(self.client)
        if directory is None:
            raise ValueError(
                f"checkpoint(): {self!r} has no checkpoint directory to write to: an RDD is checkpointed under the "
                "directory of the StreamingContext made on its client; call ssc.checkpoint('/some/dir') first "
                "(an RDD made without a client has no context)"
            )
        path = f"{directory.rstrip('/')}/rdd/{self.name}"
        key = checkpoint_key_of(self.client)
        write_rdd(self, path, key)
        out = read_rdd(path, self.npartitions, self.client, f"checkpointed-{self.name}", self.partitioner, key)
        out.origins = self.origins
        return out

    @property
    def is_checkpointed(self) -> bool:
        """True for an RDD read from a checkpoint (:meth:`checkpoint`, or a stream's data checkpoint)."""
        return self.checkpoint_path is not None
