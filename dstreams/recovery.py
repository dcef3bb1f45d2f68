"""Recovery: a StreamingContext rebuilt from its checkpoint directory, and the checkpoints it writes.

:meth:`StreamingContext.get_or_create` recovers the context of the newest readable metadata
checkpoint (its pickled graph, run again on the same code), or, for a new version of the application,
builds the graph with ``setup()`` and resumes its sources and stateful streams from the snapshot
beside the checkpoint (see :mod:`dstreams.snapshot`). While a context runs with a checkpoint
directory, it refuses to start a graph that cannot be pickled, and writes a checkpoint and a snapshot
after every generated batch. The file format is :mod:`dstreams.checkpoint`'s.

The functions here return what they found; the context keeps it (its ``_restored`` field) itself.
"""
from __future__ import annotations

import logging

logger = logging.getLogger("dstreams")


def get_or_create(cls, directory, setup, client, clock, checkpoint_key, upgrade, secrets=None):
    """The body of :meth:`StreamingContext.get_or_create`: ``(ssc, restored)``, where ``restored`` is the
    :class:`~dstreams.checkpoint.CheckpointState` or the snapshot's upgrade state the context resumes
    from on ``start()``, or None for a new context made by ``setup()``."""
    from . import checkpoint as ckpt
    from .context import StreamingContext

    recovered = None
    if not upgrade:
        try:
            recovered = recover(cls, directory, client, clock, checkpoint_key, secrets)
        except (ckpt.CheckpointVersionError, ckpt.CheckpointUnreadableError) as e:
            logger.warning("dstreams: %s; resuming from the snapshot with a graph built by setup()", e)
            upgrade = True
    if recovered is not None:
        return recovered
    found = ckpt.read_latest_snapshot(directory, checkpoint_key)
    if upgrade and found is None and ckpt.checkpoint_files(directory):
        raise ckpt.CheckpointError(
            f"cannot resume from {directory}: it has checkpoints but no readable snapshot to resume a new "
            "version from; recover with the code that wrote it, or start afresh with a new checkpoint directory")
    ssc = setup()
    if not isinstance(ssc, StreamingContext):
        raise TypeError(f"get_or_create(): setup() must return a StreamingContext, got {type(ssc).__name__}")
    if ssc.checkpoint_dir is None:
        ssc.checkpoint(directory, checkpoint_key)
    if found is None:
        return ssc, None
    from . import snapshot

    try:
        restored = snapshot.restore(ssc.runtime.graph, *found)
    except BaseException:
        ssc.stop()
        raise
    ssc.restored_streams = restored.report
    logger.warning("dstreams: resumed a new version of the application from %s (batch %s ms, %d batches to run "
                   "again): %s", found[1], restored.time_ms, len(restored.pending_times),
                   snapshot.describe(restored.report))
    return ssc, restored


def recover(cls, directory, client, clock, checkpoint_key, secrets=None):
    """``(ssc, state)``: the context of the newest checkpoint in ``directory`` with its pickled graph, and
    the checkpoint's state; or None."""
    from . import checkpoint as ckpt

    made = {}

    def make_context(header):  # the context the graph is read into: made once, on the first good header
        if "ssc" not in made:
            made["ssc"] = cls(client, batch_interval=header["batch_ms"] / 1000.0, clock=clock)
        return made["ssc"]

    try:
        state = ckpt.read_latest(directory, checkpoint_key, make_context, secrets)
    except BaseException:
        if "ssc" in made:
            made["ssc"].stop()
        raise
    if state is None:
        return None
    ssc = made["ssc"]
    bad = state.graph.unrecoverable_sources()
    if bad:
        ssc.stop()
        names = ", ".join(f"'{s.name}' ({type(s).__name__}: {getattr(s, 'unrecoverable_reason', '')})"
                          for s in bad)
        raise ckpt.CheckpointError(
            f"cannot recover from {directory}: the graph reads from sources whose data a checkpoint cannot "
            f"bring back: {names}. Use a recoverable source (Kafka, files) or start afresh with a new "
            "checkpoint directory"
        )
    ssc.runtime.graph = state.graph
    state.graph.attach(ssc)
    ssc.checkpoint_dir, ssc.checkpoint_key = state.checkpoint_dir, checkpoint_key
    logger.info("dstreams: recovered from checkpoint of batch %s ms, %d pending batches",
                state.time_ms, len(state.pending_times))
    return ssc, state


def check_checkpointable(graph) -> None:
    """Refuse to start when the graph cannot be written to a checkpoint, naming the stream, the function
    and what in it cannot be pickled."""
    from .checkpoint import dumps
    from .dstream.usercode import not_picklable
    from .userfuncs import describe, unpicklable

    try:
        dumps(graph)
        return
    except Exception as whole:
        hint = ("Create such objects inside the function (a connection: use a dstreams.ConnectionPool), or do "
                "not set ssc.checkpoint()")
        for stream in graph.streams:
            for func, _ in stream.user_functions:
                problem = unpicklable(func, dumps)
                if problem is not None:
                    raise ValueError(
                        f"stream {stream.label} cannot be written to a checkpoint: the function {describe(func)}: "
                        f"{not_picklable(*problem)}. {hint}") from problem[1]
            problem = unpicklable(stream.__getstate__(), dumps)
            if problem is not None:
                raise ValueError(
                    f"stream {stream.label} cannot be written to a checkpoint: {not_picklable(*problem)}. {hint}"
                ) from problem[1]
        raise ValueError(f"the stream graph cannot be written to a checkpoint: {whole}") from whole


def write_checkpoint(ssc, writer, last_generated, pending) -> None:
    """Write the checkpoint and snapshot of ``ssc`` after batch ``last_generated`` with ``writer`` (a
    :class:`~dstreams.checkpoint.CheckpointWriter`), then delete the data checkpoints no kept checkpoint needs."""
    from . import snapshot
    from .checkpoint import CheckpointState

    graph = ssc.runtime.graph
    state = CheckpointState(last_generated, ssc.batch_ms, ssc.checkpoint_dir, graph, pending)
    writer.write(state, snapshot.take(graph, last_generated, ssc.batch_ms, pending))
    ssc.runtime.last_checkpoint = writer.last
    graph.delete_retired_data(writer.seq, writer.keep)
