"""StreamingContext: sources, start/stop/await_termination, on a dask.distributed Client."""
from __future__ import annotations

import enum
import logging
import threading
import uuid
import weakref

from . import dashboard
from ._util import check_count, checked, fmt_ms, function, partitions, text, to_ms
from .runtime import Runtime
from .scheduler.clock import SystemClock
from .scheduler.generator import JobGenerator
from .scheduler.jobs import JobScheduler
from .scheduler.spans import batch_annotations

logger = logging.getLogger("dstreams")


def _optional_text(value, what):
    return None if value is None else text(value, what)


def _key(value, what):
    if value is not None and (not isinstance(value, (str, bytes)) or not value):
        raise TypeError(f"{what} must be a non-empty str or bytes (a secret), or None; got {type(value).__name__}")
    return value


def _flag(value, what):
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be True or False, got {value!r} ({type(value).__name__})")
    return value


def _port(value, what):
    return check_count(value, what, maximum=65535)


class StreamingContextState(enum.Enum):
    INITIALIZED = "initialized"
    ACTIVE = "active"
    STOPPED = "stopped"


# one active context per Dask scheduler, as Spark allows one per JVM
_active: dict[str, weakref.ref] = {}
_active_lock = threading.Lock()
#: how long stop() waits for a stop that another thread (a failed batch's) is doing
STOP_WAIT_S = 120.0


class StreamingContext:
    """The entry point: cuts its inputs into a micro-batch every ``batch_interval`` and runs the jobs.

    Parameters
    ----------
    client : distributed.Client, str or None
        The Dask cluster to run on: a ``Client``, a scheduler address (``"tcp://host:8786"``), or None
        for an in-process ``LocalCluster`` that the context creates, owns and closes on ``stop()``.
    batch_interval : float or timedelta
        Seconds between batches (default 1.0).
    clock : Clock, optional
        Where time comes from; tests pass a :class:`dstreams.testing.ManualClock`.

    Examples
    --------
    >>> import operator
    >>> from dstreams import StreamingContext
    >>> from dstreams.testing import ManualClock, run_batches
    >>> with StreamingContext(batch_interval=1, clock=ManualClock()) as ssc:  # doctest: +SKIP
    ...     out = []
    ...     lines = ssc.queue_stream([["a b", "a"], ["b"]])
    ...     counts = lines.flat_map(str.split).map(lambda w: (w, 1)).reduce_by_key(operator.add)
    ...     counts.foreach_rdd(lambda rdd: out.append(sorted(rdd.collect())))
    ...     run_batches(ssc, 2)
    >>> out  # doctest: +SKIP
    [[('a', 2), ('b', 1)], [('b', 1)]]
    """

    def __init__(self, client=None, batch_interval=1.0, clock=None):
        self.batch_ms = to_ms(batch_interval, "batch_interval")
        self.clock = clock if clock is not None else SystemClock()
        self._owns_client = False
        self._cluster = None
        self.client = self._connect(client)
        #: what streams and sources use while the context runs (see :class:`dstreams.runtime.Runtime`)
        self.runtime = Runtime(self.client, self.batch_ms, self._on_error)
        self._state = StreamingContextState.INITIALIZED
        self._state_lock = threading.RLock()
        self._terminated = threading.Event()
        self._error: BaseException | None = None
        self.checkpoint_dir: str | None = None
        self.checkpoint_key = None
        self._restored = None
        #: after get_or_create resumed a new version from a snapshot: per stream name, "restored", "not found"
        #: (new in this version) or "not used" (only in the checkpoint)
        self.restored_streams: dict[str, str] = {}
        self._scheduler: JobScheduler | None = None
        self._generator: JobGenerator | None = None
        self.zero_time: int | None = None
        self.run_id = uuid.uuid4().hex[:6]

    # -- cluster ---------------------------------------------------------------------------
    def _connect(self, client):
        from distributed import Client, LocalCluster

        if client is None:
            self._cluster = LocalCluster(processes=False, dashboard_address=":0")
            self._owns_client = True
            return Client(self._cluster)  # the default client, as Client() is: bags and frames use it too
        if isinstance(client, str):
            self._owns_client = True
            try:
                return Client(client, timeout="10s")
            except OSError as e:
                raise ConnectionError(
                    f"could not reach a Dask scheduler at {client!r}: {e}; start one with `dask scheduler` "
                    "or pass client=None for an in-process LocalCluster"
                ) from e
        if isinstance(client, Client):
            return client
        raise TypeError(
            f"client must be a distributed.Client, a scheduler address string or None, got "
            f"{type(client).__name__}"
        )

    @property
    def batch_interval(self) -> float:
        """Seconds between batches."""
        return self.batch_ms / 1000.0

    @property
    def recovered(self) -> bool:
        """True when :meth:`get_or_create` rebuilt this context from a checkpoint."""
        return self._restored is not None

    @property
    def state(self) -> StreamingContextState:
        """INITIALIZED, ACTIVE or STOPPED."""
        return self._state

    def default_parallelism(self, n_records: int | None = None) -> int:
        """Partitions for data made on the driver: the cluster's thread count, at most one per record."""
        try:
            threads = sum(self.client.nthreads().values())
        except Exception:
            threads = 1
        threads = max(1, threads - self.runtime.receiver_threads())  # each receiver holds a thread for its life
        if n_records is None:
            return threads
        return max(1, min(threads, n_records))

    # -- sources ---------------------------------------------------------------------------
    def queue_stream(self, batches, one_at_a_time: bool = True, default=None):
        """A stream whose batches are taken from ``batches`` (lists of records or RDDs).

        Examples
        --------
        >>> stream = ssc.queue_stream([[1, 2], [3]])  # doctest: +SKIP
        """
        from .sources.queue import QueueInputDStream

        return QueueInputDStream(self, batches, one_at_a_time, default)

    @checked(directory=text, file_filter=function(("path",), optional=True))
    def text_file_stream(self, directory: str, new_files_only: bool = True, file_filter=None):
        """Lines of the new files that appear in ``directory`` (any fsspec URL), Spark's rules."""
        from .sources.files import FileInputDStream

        return FileInputDStream(self, directory, new_files_only, file_filter)

    def receiver_stream(self, receiver, max_rate=None, *, block_interval=0.2, replicate=True, max_restarts=10,
                        restart_delay=2.0, write_ahead_log=False, backpressure=False, initial_rate=None,
                        min_rate=100.0):
        """A stream of the records that ``receiver`` (a :class:`dstreams.Receiver`) stores.

        The receiver runs on a worker as one long-lived task that holds a worker thread. Its records are
        cut into a block every ``block_interval`` seconds and kept on the workers (with a copy on a second
        worker when ``replicate``); each batch is made of the blocks received since the previous one.
        ``max_rate`` caps the records per second it may store (``store()`` waits). A receiver that fails
        is restarted as a new task after ``restart_delay`` seconds, at most ``max_restarts`` times in a
        row (a stored block resets the count); past that the context stops with an error.

        With ``write_ahead_log=True`` (which needs ``ssc.checkpoint(directory)``) every block is written
        to a log under the checkpoint directory before ``store()`` returns (then no replica is kept), and
        the stream can be recovered by :meth:`get_or_create`: the blocks received but not processed when
        the driver died are read back from the log.

        With ``backpressure=True`` the rate the receiver may store adapts to how fast batches are
        processed (Spark's PID estimator, never below ``min_rate``, starting at ``initial_rate`` when
        given, never above ``max_rate``), as for the Kafka direct stream.

        Examples
        --------
        >>> events = ssc.receiver_stream(MyReceiver("source"), max_rate=1000)  # doctest: +SKIP
        """
        from .sources.receiver.input import ReceiverInputDStream

        return ReceiverInputDStream(self, receiver, max_rate, block_interval, replicate, max_restarts, restart_delay,
                                    write_ahead_log, backpressure, initial_rate, min_rate)

    @checked(host=text, port=_port)
    def socket_text_stream(self, host: str, port: int, max_rate=None, **options):
        """Lines of utf-8 text read from a TCP server, one record per line (Spark's ``socketTextStream``).

        ``options`` are those of :meth:`receiver_stream`.

        Examples
        --------
        >>> lines = ssc.socket_text_stream("127.0.0.1", 9999)  # doctest: +SKIP
        """
        from .sources.receiver.socket import SocketReceiver

        return self.receiver_stream(SocketReceiver(host, port), max_rate, **options)

    @checked(num_partitions=partitions())
    def parallelize(self, data, num_partitions: int | None = None):
        """An RDD of ``data`` on this context's cluster (Spark's ``sc.parallelize``)."""
        from .rdd import RDD

        data = list(data)
        return RDD.from_list(data, num_partitions or self.default_parallelism(len(data)), self.client)

    def union(self, *streams):
        """The records of all ``streams`` (same slide duration), batch by batch."""
        from .dstream.transformed import UnionDStream

        return UnionDStream(list(streams))

    # -- settings --------------------------------------------------------------------------
    def remember(self, duration) -> None:
        """Keep every stream's generated RDDs for at least ``duration`` (for ad-hoc queries)."""
        self.runtime.graph.set_remember(to_ms(duration, "remember duration"))

    @checked(directory=_optional_text, checkpoint_key=_key)
    def checkpoint(self, directory: str | None, checkpoint_key: str | bytes | None = None) -> None:
        """Set the checkpoint directory (any fsspec URL): metadata checkpoints for recovery with
        :meth:`get_or_create`, and the data checkpoints stateful operators need.

        ``checkpoint_key`` signs every checkpoint (HMAC-SHA256); one whose signature does not match is
        refused before anything is unpickled. A checkpoint is code: only recover from directories you trust.
        """
        self._require_state(StreamingContextState.INITIALIZED, "checkpoint()")
        if directory is not None:
            import fsspec

            fs, root = fsspec.core.url_to_fs(directory)
            fs.makedirs(root, exist_ok=True)
        self.checkpoint_dir = directory
        self.checkpoint_key = checkpoint_key

    # -- recovery --------------------------------------------------------------------------
    @classmethod
    @checked(directory=text, setup=function(()), checkpoint_key=_key, upgrade=_flag)
    def get_or_create(cls, directory: str, setup, client=None, clock=None, checkpoint_key=None, *,
                      upgrade: bool = False):
        """Recover the context checkpointed in ``directory``, or build a new one with ``setup()``.

        With a usable checkpoint, the context is rebuilt on ``client`` (or a new in-process cluster)
        without calling ``setup``: on ``start()`` it runs again the batches that were pending when the
        driver died and those whose time passed while it was down, then goes on from the checkpointed
        offsets. Without one, ``setup()`` must return a new StreamingContext (that calls
        ``ssc.checkpoint(directory)``), which is returned.

        A new version of the application (changed code, another dstreams or Python version) cannot load
        the pickled graph. Then, or always with ``upgrade=True``, ``setup()`` builds the new graph and
        each of its sources and stateful streams is resumed from the snapshot beside the checkpoint,
        matched by name (see :meth:`DStream.named`): the state from its newest data checkpoint, the
        batches after it run again on the same input. ``ssc.restored_streams`` then tells, per name,
        ``"restored"``, ``"not found"`` (new in this version, starts empty) or ``"not used"`` (in the
        checkpoint only).

        Examples
        --------
        >>> def setup():
        ...     ssc = StreamingContext(batch_interval=1)
        ...     ssc.checkpoint("/tmp/app-checkpoint")
        ...     create_direct_stream(ssc, ["words"], params).named("words").map(...).foreach_rdd(...)
        ...     return ssc
        >>> ssc = StreamingContext.get_or_create("/tmp/app-checkpoint", setup)  # doctest: +SKIP
        >>> ssc.start()  # doctest: +SKIP
        """
        from . import checkpoint as ckpt

        state = None
        if not upgrade:
            try:
                state = cls._recover(directory, client, clock, checkpoint_key)
            except (ckpt.CheckpointVersionError, ckpt.CheckpointUnreadableError) as e:
                logger.warning("dstreams: %s; resuming from the snapshot with a graph built by setup()", e)
                upgrade = True
        if state is not None:
            return state
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
            return ssc
        from . import snapshot

        try:
            ssc._restored = snapshot.restore(ssc.runtime.graph, *found)
        except BaseException:
            ssc.stop()
            raise
        ssc.restored_streams = ssc._restored.report
        logger.warning("dstreams: resumed a new version of the application from %s (batch %s ms, %d batches to run "
                       "again): %s", found[1], ssc._restored.time_ms, len(ssc._restored.pending_times),
                       snapshot.describe(ssc._restored.report))
        return ssc

    @classmethod
    def _recover(cls, directory, client, clock, checkpoint_key):
        """The context of the newest checkpoint in ``directory`` with its pickled graph, or None."""
        from . import checkpoint as ckpt

        made = {}

        def make_context(header):  # the context the graph is read into: made once, on the first good header
            if "ssc" not in made:
                made["ssc"] = cls(client, batch_interval=header["batch_ms"] / 1000.0, clock=clock)
            return made["ssc"]

        try:
            state = ckpt.read_latest(directory, checkpoint_key, make_context)
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
        ssc._restored = state
        logger.info("dstreams: recovered from checkpoint of batch %s ms, %d pending batches",
                    state.time_ms, len(state.pending_times))
        return ssc

    def __reduce__(self):
        # checkpoints write the context as a reference (see checkpoint._Pickler); anything else is a mistake
        raise TypeError(
            "a StreamingContext cannot be pickled: a function sent to the workers refers to the context; "
            "use it only in driver-side code such as foreach_rdd"
        )

    def _check_checkpointable(self):
        """Refuse to start when the graph cannot be written to a checkpoint, naming the stream."""
        from .checkpoint import dumps

        try:
            dumps(self.runtime.graph)
            return
        except Exception as whole:
            for stream in self.runtime.graph.streams:
                try:
                    dumps(stream.__getstate__())
                except Exception as e:
                    raise ValueError(
                        f"stream '{stream.name}' cannot be written to a checkpoint ({type(e).__name__}: {e}): "
                        "a function of it refers to an object that cannot be pickled, such as a lock, a "
                        "thread, an open connection or file. Create such objects inside the function (or "
                        "use a ConnectionPool), or do not set ssc.checkpoint()"
                    ) from e
            raise ValueError(f"the stream graph cannot be written to a checkpoint: {whole}") from whole

    def _write_checkpoint(self, last_generated, pending):
        from . import snapshot
        from .checkpoint import CheckpointState

        state = CheckpointState(last_generated, self.batch_ms, self.checkpoint_dir, self.runtime.graph, pending)
        writer = self._checkpoint_writer
        writer.write(state, snapshot.take(self.runtime.graph, last_generated, self.batch_ms, pending))
        self.runtime.last_checkpoint = writer.last
        self.runtime.graph.delete_retired_data(writer.seq, writer.keep)

    def add_listener(self, listener) -> None:
        """Register a :class:`dstreams.StreamingListener`."""
        self.runtime.bus.add(listener)

    def remove_listener(self, listener) -> None:
        self.runtime.bus.remove(listener)

    # -- life cycle ------------------------------------------------------------------------
    def _require_state(self, state, what):
        if self._state is not state:
            hint = {
                StreamingContextState.ACTIVE: "it is already running",
                StreamingContextState.STOPPED: "it was stopped; a stopped context cannot be restarted, "
                "create a new StreamingContext",
            }.get(self._state, "")
            raise RuntimeError(f"cannot call {what} on a StreamingContext in state {self._state.value}: {hint}")

    def start(self) -> None:
        """Start generating and running batches; returns at once (it never blocks a notebook)."""
        with self._state_lock:
            if self._state is StreamingContextState.ACTIVE:
                logger.warning("StreamingContext.start() called on an active context; ignored")
                return
            self._require_state(StreamingContextState.INITIALIZED, "start()")
            self.runtime.graph.validate()
            key = self._active_key = self.client.scheduler.address
            with _active_lock:
                other = _active.get(key)
                if other is not None and other() is not None and other()._state is StreamingContextState.ACTIVE:
                    raise RuntimeError(
                        f"another StreamingContext is already active on the Dask scheduler {key}; stop it "
                        "(ssc.stop(stop_client=False)) before starting a new one, or use another cluster"
                    )
                _active[key] = weakref.ref(self)
            if self.checkpoint_dir is not None:
                self._check_checkpointable()
            annotations = batch_annotations(self.client)  # one Dask span for the run: flat scheduler memory
            self.runtime.annotations = annotations
            reporter = dashboard.attach(self)  # the Streaming page of the Dask dashboard
            self.runtime.dashboard_url = dashboard.page_url(self.client) if reporter is not None else None
            self._scheduler = JobScheduler(self.clock, self.runtime.bus, self._on_batch_done, self._on_error,
                                           annotations)
            checkpointer = None
            if self.checkpoint_dir is not None:
                from .checkpoint import CheckpointWriter

                self._checkpoint_writer = CheckpointWriter(self.checkpoint_dir, self.checkpoint_key)
                checkpointer = self._write_checkpoint
            self._generator = JobGenerator(self.runtime.graph, self.clock, self.batch_ms, self._scheduler,
                                           self.runtime.input_info, checkpointer, annotations)
            try:
                from .sources.receiver.tracker import start_receivers

                self.runtime.receiver_tracker = start_receivers(self)  # None without receiver streams
                if self._restored is not None:
                    if self.runtime.graph.zero_time is not None:  # recovered with its graph: start the sources again
                        self.runtime.graph.restart()
                    else:  # a new graph resumed from a snapshot: on the old application's batch times
                        self.runtime.graph.start(self._restored.zero_ms)
                    self.zero_time = self.runtime.graph.zero_time
                    self._generator.restart(self._restored.time_ms, self._restored.pending_times)
                else:
                    self.zero_time = self._generator.start()
            except BaseException:
                self._release_active()
                if reporter is not None:
                    reporter.on_streaming_stopped()
                self._scheduler.stop(graceful=False)
                if self.runtime.receiver_tracker is not None:
                    self.runtime.receiver_tracker.close()
                raise
            self._state = StreamingContextState.ACTIVE
            logger.info("StreamingContext started: %s", self.runtime.graph.describe())
        self.runtime.bus.post("on_streaming_started", self.zero_time + self.batch_ms)

    def _on_batch_done(self, time_ms):
        self._generator.clear(time_ms)

    def _on_error(self, error):
        if self._error is None:
            self._error = error
        logger.error("dstreams: %s", error)
        self.runtime.bus.post("on_streaming_error", error)
        # stop from another thread: this one is the job executor, which stop() joins
        threading.Thread(target=self._stop_streaming, args=(False,), name="dstreams-stop-on-error",
                         daemon=True).start()

    def stop(self, stop_client: bool | None = None, graceful: bool = False) -> None:
        """Stop the stream; idempotent.

        Parameters
        ----------
        stop_client : bool, optional
            Close the Dask client too. Default: only when the context created it (``client=None`` or
            an address); pass True to close a client you gave, False to keep an owned one.
        graceful : bool
            Finish every batch already generated before returning (Spark's ``stopGracefully``).
        """
        if self.runtime.bus.in_listener():
            # a listener runs while other threads wait to post: stopping here (which waits for those
            # threads) could deadlock, so stop from another thread and return at once
            threading.Thread(target=self.stop, args=(stop_client, graceful), name="dstreams-stop-from-listener",
                             daemon=True).start()
            return
        self._stop_streaming(graceful)
        if stop_client is None:
            stop_client = self._owns_client
        if stop_client:
            self._close_client()

    def _stop_streaming(self, graceful: bool) -> None:
        with self._state_lock:
            if self._state is StreamingContextState.INITIALIZED:
                self._state = StreamingContextState.STOPPED
                self._terminated.set()
                return
            if self._state is StreamingContextState.STOPPED:
                wait = not self._terminated.is_set() and not self._is_job_thread()
            else:
                wait = None
                self._state = StreamingContextState.STOPPED
        if wait is not None:
            # stopped, or being stopped by another thread (a failed batch stops the context from its own
            # thread): wait until that stop is done, so the caller may close the client after this returns
            if wait and not self._terminated.wait(STOP_WAIT_S):
                logger.warning("dstreams: the context did not finish stopping within %s s", STOP_WAIT_S)
            return
        try:
            tracker = self.runtime.receiver_tracker
            if tracker is not None:  # receivers first: with graceful, a final batch takes their last blocks
                tracker.stop_receivers(graceful)
            self._generator.stop_generating(graceful,
                                            final_batch=tracker is not None and tracker.has_unallocated_blocks())
            self._scheduler.stop(graceful)  # graceful: every generated batch runs; its clean-up is queued
            self._generator.stop(graceful)  # ... and done here, with the last checkpoint
            self.runtime.graph.stop()
            if tracker is not None:
                tracker.close()
        finally:
            self._release_active()
            try:
                self.runtime.bus.post("on_streaming_stopped")
            finally:
                self._terminated.set()
        logger.info("StreamingContext stopped%s", " gracefully" if graceful else "")

    def _is_job_thread(self) -> bool:
        """Whether the calling thread runs this context's jobs (a foreach_rdd function stopping the context)."""
        scheduler = self._scheduler
        return scheduler is not None and scheduler._thread is threading.current_thread()

    def _release_active(self):
        key = getattr(self, "_active_key", None)  # the client may be closed by now: use the start-time key
        with _active_lock:
            ref = _active.get(key)
            if ref is not None and ref() is self:
                del _active[key]

    def _close_client(self):
        client, cluster = self.client, self._cluster
        try:
            client.close()
        finally:
            if cluster is not None:
                cluster.close()
                self._cluster = None

    def await_termination(self, timeout: float | None = None) -> bool:
        """Wait until the context stops; re-raise the failure that stopped it.

        Returns True when it stopped, False when ``timeout`` seconds passed first.
        """
        done = self._terminated.wait(timeout)
        if self._error is not None:
            self._wait_stopped()
            raise self._error
        return done

    def _wait_stopped(self) -> None:
        """Wait until the stop that a failure started has finished, so that the caller who is given the
        failure may start a new context at once (a notebook cell run again)."""
        if not self._is_job_thread() and not self._terminated.wait(STOP_WAIT_S):
            logger.warning("dstreams: the context did not finish stopping within %s s", STOP_WAIT_S)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        try:
            state, batch = self._state.value, fmt_ms(self.batch_ms)
        except Exception:  # a half-built context (its __init__ raised)
            return "<StreamingContext>"
        address = getattr(self, "_active_key", None)
        if address is None:
            try:
                address = self.client.scheduler.address
            except Exception:  # the client is closed
                address = None
        where = f", scheduler {address}" if address else ""
        page = getattr(getattr(self, "runtime", None), "dashboard_url", None)
        return f"<StreamingContext {state}, batch {batch}{where}" + (f", page {page}>" if page else ">")
