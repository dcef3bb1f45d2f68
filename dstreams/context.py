"""StreamingContext: sources, start/stop/await_termination, on a dask.distributed Client.

Starting, stopping and awaiting a context are in :mod:`dstreams.lifecycle` (a base class of
StreamingContext), recovering it from a checkpoint and writing its checkpoints in :mod:`dstreams.recovery`.
"""
from __future__ import annotations

import threading
import uuid
import weakref

from . import recovery
from ._util import check_count, check_function, checked, flag, fmt_ms, function, partitions, positive, text, to_ms
from .dashboard import html as _html
from .lifecycle import STOP_WAIT_S, Lifecycle, StreamingContextState  # noqa: F401  (STOP_WAIT_S re-exported)
from .listener import BatchHistory
from .runtime import Runtime
from .scheduler.clock import SystemClock
from .scheduler.generator import JobGenerator
from .scheduler.jobs import JobScheduler


def _optional_text(value, what):
    return None if value is None else text(value, what)


def _key(value, what):
    if value is not None and (not isinstance(value, (str, bytes)) or not value):
        raise TypeError(f"{what} must be a non-empty str or bytes (a secret), or None; got {type(value).__name__}")
    return value


def _port(value, what):
    return check_count(value, what, maximum=65535)


def _streams(value, what):
    from .dstream.base import DStream

    if isinstance(value, DStream) or not isinstance(value, (list, tuple)) or not value \
            or not all(isinstance(s, DStream) for s in value):
        raise TypeError(f"{what} must be a non-empty list of DStreams, got {value!r}; for example "
                        "ssc.transform([a, b], lambda rdds: rdds[0].union(rdds[1]))")
    return list(value)


# the context last made on each client: an RDD's checkpoint() writes under its directory
_contexts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def checkpoint_dir_of(client) -> str | None:
    """The checkpoint directory of the StreamingContext last made on ``client`` (None without one)."""
    ref = _contexts.get(client) if client is not None else None
    ssc = ref() if ref is not None else None
    return ssc.checkpoint_dir if ssc is not None else None


def checkpoint_key_of(client):
    """The checkpoint key of the StreamingContext last made on ``client`` (None without one)."""
    ref = _contexts.get(client) if client is not None else None
    ssc = ref() if ref is not None else None
    return ssc.checkpoint_key if ssc is not None else None


class StreamingContext(Lifecycle):
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
    on_batch_failure : "stop" or "continue"
        What a failed batch (an output operation that raised) does. ``"stop"`` (the default): the context
        stops and ``await_termination()`` raises the failure. ``"continue"`` (Spark's behaviour, which
        :mod:`dstreams.pyspark` uses): the failure is reported (log, ``on_streaming_error`` and the batch's
        ``BatchInfo`` to listeners), ``await_termination()`` raises the first one at once, and the next batches
        keep running until ``stop()``. A batch that cannot be built, or a receiver past its restarts, stops
        the context either way.

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

    def __init__(self, client=None, batch_interval=1.0, clock=None, *, on_batch_failure: str = "stop"):
        if on_batch_failure not in ("stop", "continue"):
            raise ValueError(f"on_batch_failure must be 'stop' or 'continue', got {on_batch_failure!r}")
        self.on_batch_failure = on_batch_failure
        self.batch_ms = to_ms(batch_interval, "batch_interval")
        self.clock = clock if clock is not None else SystemClock()
        self._owns_client = False
        self._cluster = None
        self.client = self._connect(client)
        #: what streams and sources use while the context runs (see :class:`dstreams.runtime.Runtime`)
        self.runtime = Runtime(self.client, self.batch_ms, self._on_error)
        self._history = BatchHistory()  # the newest batches, for batch_history() and the notebook display
        self.runtime.bus.add(self._history)
        self._state = StreamingContextState.INITIALIZED
        self._state_lock = threading.RLock()
        self._terminated = threading.Event()
        self._failed = threading.Event()  # a batch failed under on_batch_failure="continue"
        self._error: BaseException | None = None
        self._awaiting = self._awaiting_batches = 0  # threads in await_termination, run_batches (see _awaited)
        self._awaiting_lock = threading.Lock()
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
        _contexts[self.client] = weakref.ref(self)

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
                return Client(client)  # waits distributed.comm.timeouts.connect (30 s by default)
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

    def _close_client(self):
        client, cluster = self.client, self._cluster
        try:
            client.close()
        finally:
            if cluster is not None:
                cluster.close()
                self._cluster = None

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

    @checked(directory=text, record_length=positive, file_filter=function(("path",), optional=True))
    def binary_records_stream(self, directory: str, record_length: int, new_files_only: bool = True,
                              file_filter=None):
        """The fixed-length binary records of the new files in ``directory`` (Spark's ``binaryRecordsStream``).

        Files are found as by :meth:`text_file_stream`; each is cut into records of ``record_length`` bytes
        (``bytes`` objects), one partition per file. A file whose size is not a multiple of
        ``record_length`` fails its batch, naming the file.

        Examples
        --------
        >>> readings = ssc.binary_records_stream("/data/readings", 8)  # doctest: +SKIP
        >>> readings.map(lambda record: struct.unpack("<d", record)[0])  # doctest: +SKIP
        """
        from .sources.files import BinaryRecordsInputDStream

        return BinaryRecordsInputDStream(self, directory, record_length, new_files_only, file_filter)

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

    @checked(streams=_streams, func=function(("rdds",), ("time", "rdds")))
    def transform(self, streams, func):
        """A stream whose batches ``func(rdds)`` or ``func(time, rdds)`` builds on the driver from the same
        batch of each of ``streams`` (Spark's ``StreamingContext.transform``).

        ``rdds`` is a list holding the RDD of each stream, in the order of ``streams``; the streams must
        slide alike. ``func`` returns an RDD.

        Examples
        --------
        >>> a, b, c = (ssc.queue_stream([[i]]) for i in range(3))  # doctest: +SKIP
        >>> ssc.transform([a, b, c], lambda rdds: rdds[0].union(*rdds[1:]))  # doctest: +SKIP
        """
        from .dstream.transformed import TransformedDStream

        if streams[0].ssc is not self:
            raise ValueError(f"transform(): stream '{streams[0].name}' belongs to another StreamingContext; pass "
                             "streams made by this context")
        return TransformedDStream(streams, func, as_list=True)

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
    def get_active_or_create(cls, setup, directory: str | None = None, client=None, clock=None,
                             checkpoint_key=None, *, upgrade: bool = False):
        """The active context (see :meth:`get_active`), else the one :meth:`get_or_create` gives for
        ``directory``, else (without a directory) a new one made by ``setup()`` (PySpark's ``getActiveOrCreate``).

        A notebook cell that calls it can be run again: the second run returns the context the first one
        started instead of making another. ``client``, ``clock``, ``checkpoint_key`` and ``upgrade`` are
        :meth:`get_or_create`'s; with no active context and no ``directory`` they are not used (``setup``
        makes the context as it likes).

        Examples
        --------
        >>> def setup():
        ...     ssc = StreamingContext(batch_interval=1)
        ...     ssc.queue_stream([[1, 2], [3]]).pprint()
        ...     return ssc
        >>> ssc = StreamingContext.get_active_or_create(setup)  # doctest: +SKIP
        >>> ssc.start()  # a no-op (with a warning) when it is already running  # doctest: +SKIP
        """
        if isinstance(setup, str) and callable(directory):
            raise TypeError(
                "get_active_or_create() takes setup first and the checkpoint directory second: "
                f"get_active_or_create(setup, {setup!r}) (get_or_create takes them the other way round)")
        check_function(setup, "get_active_or_create(): setup", {0: ()})
        if directory is not None:
            text(directory, "get_active_or_create(): directory")
        active = cls.get_active()
        if active is not None:
            return active
        if directory is not None:
            return cls.get_or_create(directory, setup, client, clock, checkpoint_key, upgrade=upgrade)
        ssc = setup()
        if not isinstance(ssc, StreamingContext):
            raise TypeError(f"get_active_or_create(): setup() must return a StreamingContext, got "
                            f"{type(ssc).__name__}")
        return ssc

    @classmethod
    @checked(directory=text, setup=function(()), checkpoint_key=_key, upgrade=flag)
    def get_or_create(cls, directory: str, setup, client=None, clock=None, checkpoint_key=None, *,
                      upgrade: bool = False, secrets=None):
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

        Secret Kafka settings (``sasl_plain_password``, ``ssl_password``, ``sasl_oauth_token_provider``, any
        setting named ``*password*``, ``*token*``, ``*secret*``) never enter a checkpoint. A recovery that does
        not call ``setup()`` gets them from ``secrets``: a dict ``{setting: value}`` or a function
        ``setting -> value`` (one value per setting name, for every Kafka source and sink); a setting given as
        ``dstreams.kafka.Secret.from_env("VAR")`` in the params needs nothing here.

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
        ssc, restored = recovery.get_or_create(cls, directory, setup, client, clock, checkpoint_key, upgrade, secrets)
        if restored is not None:
            ssc._restored = restored
        return ssc

    def __getattr__(self, name):
        # only for attributes the context does not have
        from ._names import camel_case_hint

        hint = camel_case_hint(self, name)
        raise AttributeError(f"StreamingContext has no attribute {name!r}" + (f": {hint}" if hint else ""))

    def __reduce__(self):
        # checkpoints write the context as a reference (see checkpoint._Pickler); anything else is a mistake
        raise TypeError(
            "a StreamingContext cannot be pickled: a function sent to the workers refers to the context; "
            "use it only in driver-side code such as foreach_rdd"
        )

    def _check_checkpointable(self):
        """Refuse to start when the graph cannot be written to a checkpoint, naming the stream."""
        recovery.check_checkpointable(self.runtime.graph)

    def _write_checkpoint(self, last_generated, pending):
        recovery.write_checkpoint(self, self._checkpoint_writer, last_generated, pending)

    def add_listener(self, listener) -> None:
        """Register a :class:`dstreams.StreamingListener`."""
        self.runtime.bus.add(listener)

    def remove_listener(self, listener) -> None:
        self.runtime.bus.remove(listener)

    # -- watching it: notebook display, status, history ----------------------------------------
    def batch_history(self, n: int | None = None):
        """The newest ``n`` batches done (all that are kept when None: the last 1,000) as a pandas DataFrame.

        Indexed by batch time (``batch_time``), one row per batch, oldest first, with the columns
        ``records``, ``scheduling_delay``, ``processing_time`` and ``total_delay`` (seconds), ``failed``
        (bool) and ``failure`` (the failed output operation's reason, else None). Ready to plot:
        ``ssc.batch_history()[["scheduling_delay", "processing_time"]].plot()``.

        Examples
        --------
        >>> ssc.batch_history(5)  # doctest: +SKIP
                                 records  scheduling_delay  processing_time  total_delay  failed failure
        batch_time
        2026-11-24 07:09:01         1200             0.002            0.151        0.153   False    None
        """
        return self._history.to_frame(n)

    def status(self):
        """Show this context's status: in Jupyter, its table (as displaying ``ssc`` shows it), redrawn in
        place as batches finish (at most twice a second) until the context stops; elsewhere, one line.

        Returns the listener that redraws the display (``.close()`` stops it), or None outside Jupyter.
        """
        from .dashboard import status

        return status.show(self)

    @_html.html_repr
    def _repr_html_(self):
        return _html.context_html(self)

    @_html.text_repr
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
