"""SparkContext (a handle on a Dask client) and StreamingContext (PySpark's names over dstreams')."""
from __future__ import annotations

import atexit
import os
import re
import weakref

from .. import context as _context
from ..rdd import RDD as _RDD
from . import names
from ._adapt import install, missing, unwrap, wrap
from .conf import SparkConf

_LOCAL = re.compile(r"local(?:\[(\*|\d+)\])?$")


class StorageLevel:
    """PySpark's storage levels: accepted; only the replication of receiver blocks is used."""

    def __init__(self, useDisk, useMemory, useOffHeap, deserialized, replication=1):
        self.useDisk, self.useMemory, self.useOffHeap = useDisk, useMemory, useOffHeap
        self.deserialized, self.replication = deserialized, replication

    def __repr__(self):
        return f"StorageLevel({self.useDisk}, {self.useMemory}, {self.useOffHeap}, {self.deserialized}, " \
               f"{self.replication})"


for _name, _args in {"DISK_ONLY": (True, False, False, False), "DISK_ONLY_2": (True, False, False, False, 2),
                     "MEMORY_ONLY": (False, True, False, False), "MEMORY_ONLY_2": (False, True, False, False, 2),
                     "MEMORY_AND_DISK": (True, True, False, False),
                     "MEMORY_AND_DISK_2": (True, True, False, False, 2),
                     "OFF_HEAP": (True, True, True, False, 1)}.items():
    setattr(StorageLevel, _name, StorageLevel(*_args))


class Broadcast:
    """A value shipped with the functions that use it (PySpark's ``Broadcast``): read ``.value``."""

    def __init__(self, value):
        self.value = value

    def unpersist(self, blocking=False) -> None: ...

    def destroy(self, blocking=False) -> None: ...


class SparkContext:
    """A handle on a Dask cluster, with PySpark's ``SparkContext`` names.

    ``master`` is ``"local[N]"`` / ``"local[*]"`` / None (an in-process ``LocalCluster`` with N threads, at
    least 2, which this context closes on ``stop()``), a Dask scheduler address, or a ``distributed.Client``.
    ``sc.client`` is the Dask client.
    """

    _active: SparkContext | None = None

    def __init__(self, master=None, appName=None, sparkHome=None, pyFiles=None, environment=None, batchSize=0,
                 serializer=None, conf=None, gateway=None, jsc=None, profiler_cls=None):
        from distributed import Client, LocalCluster

        self._conf = conf if conf is not None else SparkConf()
        if master is not None and not isinstance(master, str):
            self._conf.set("spark.master", "client")
        elif master is not None:
            self._conf.setMaster(master)
        if appName is not None:
            self._conf.setAppName(appName)
        self._conf.warn_ignored()
        self.appName = self._conf.get("spark.app.name", "dstreams")
        self._checkpoint_dir = None
        self._cluster = None
        where = master if master is not None else self._conf.get("spark.master", "local[*]")
        if isinstance(where, Client):
            self.client, self._owns = where, False
        elif isinstance(where, str) and _LOCAL.match(where):
            n = _LOCAL.match(where).group(1)
            threads = max(2, os.cpu_count() or 2) if n in (None, "*") else max(2, int(n))
            self._cluster = LocalCluster(n_workers=1, threads_per_worker=threads, processes=False,
                                         dashboard_address=":0")
            self.client, self._owns = Client(self._cluster), True
        elif isinstance(where, str):
            self.client, self._owns = Client(where), True
        else:
            raise TypeError(f"master must be 'local[N]', a Dask scheduler address or a distributed.Client, got "
                            f"{where!r}")
        SparkContext._active = self

    @classmethod
    def getOrCreate(cls, conf=None):
        return cls._active if cls._active is not None else cls(conf=conf)

    @classmethod
    def _of_client(cls, client):
        active = cls._active
        if active is not None and active.client is client:
            return active
        return cls(master=client)

    def getConf(self) -> SparkConf:
        return self._conf

    @property
    def defaultParallelism(self) -> int:
        """``spark.default.parallelism``, else the cluster's thread count."""
        given = self._conf.get("spark.default.parallelism")
        return int(given) if given is not None else max(1, sum(self.client.nthreads().values()))

    @property
    def master(self) -> str:
        return self._conf.get("spark.master", "local[*]")

    def parallelize(self, c, numSlices=None):
        data = list(c)
        return wrap(_RDD.from_list(data, numSlices or max(1, min(self.defaultParallelism, len(data))), self.client))

    def emptyRDD(self):
        return wrap(_RDD.empty(self.client))

    def textFile(self, name, minPartitions=None, use_unicode=True):
        """The lines (without their line ends) of the text file(s) ``name`` (a path, glob or fsspec URL)."""
        import dask.bag as db

        bag = db.read_text(name, files_per_partition=1).map(str.rstrip, "\r\n").map_partitions(list)
        return wrap(_RDD(bag.__dask_graph__(), bag.name, bag.npartitions, self.client))

    def union(self, rdds):
        first, *rest = [unwrap(r) for r in rdds]
        return wrap(first.union(*rest))

    def broadcast(self, value) -> Broadcast:
        return Broadcast(value)

    def setCheckpointDir(self, dirName: str) -> None:
        """Where stateful streams checkpoint when the StreamingContext has no directory of its own."""
        self._checkpoint_dir = dirName

    def setLogLevel(self, logLevel: str) -> None:
        import logging

        logging.getLogger("dstreams").setLevel(logLevel.upper().replace("ALL", "NOTSET").replace("OFF", "CRITICAL"))

    def stop(self) -> None:
        if self._owns:
            self.client.close()
            if self._cluster is not None:
                self._cluster.close()
        if SparkContext._active is self:
            SparkContext._active = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return f"<SparkContext master={self.master} appName={self.appName} on {self.client!r}>"


_facades: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class StreamingContext:
    """PySpark's ``StreamingContext`` over a :class:`dstreams.StreamingContext` (``.ssc``).

    Made as in PySpark, ``StreamingContext(sc, batchDuration)``, it runs with Spark's failure behaviour
    (``on_batch_failure="continue"``). ``jssc`` may be a dstreams StreamingContext to wrap (a test's, with
    a manual clock).
    """

    _attribute = "ssc"

    def __init__(self, sparkContext, batchDuration=None, jssc=None):
        if jssc is None:
            if batchDuration is None:
                raise ValueError("StreamingContext(sparkContext, batchDuration): give the batch duration in seconds")
            jssc = _context.StreamingContext(sparkContext.client, batchDuration, on_batch_failure="continue")
        self.ssc = jssc
        self._sc = sparkContext
        self._exit_hook = None
        _facades[jssc] = self

    @property
    def _dstreams_object(self):
        return self.ssc

    @classmethod
    def _of(cls, ssc):
        facade = _facades.get(ssc)
        return facade if facade is not None else cls(SparkContext._of_client(ssc.client), jssc=ssc)

    @property
    def sparkContext(self) -> SparkContext:
        return self._sc

    @property
    def _conf(self) -> SparkConf:
        return self._sc.getConf()

    @classmethod
    def getActive(cls):
        ssc = _context.StreamingContext.get_active()
        return None if ssc is None else cls._of(ssc)

    @classmethod
    def getOrCreate(cls, checkpointPath, setupFunc):
        """Recover the context checkpointed in ``checkpointPath``, or make one with ``setupFunc()``."""
        active = SparkContext._active
        ssc = _context.StreamingContext.get_or_create(
            checkpointPath, lambda: unwrap(setupFunc()), client=active.client if active is not None else None)
        ssc.on_batch_failure = "continue"  # a recovered context is made by dstreams
        return cls._of(ssc)

    @classmethod
    def getActiveOrCreate(cls, checkpointPath, setupFunc):
        """The active context, else :meth:`getOrCreate` (or ``setupFunc()`` when ``checkpointPath`` is None)."""
        active = cls.getActive()
        if active is not None:
            return active
        return cls.getOrCreate(checkpointPath, setupFunc) if checkpointPath is not None else setupFunc()

    def socketTextStream(self, hostname, port, storageLevel=StorageLevel.MEMORY_AND_DISK_2):
        conf = self._conf
        options = {"replicate": getattr(storageLevel, "replication", 2) > 1,
                   "backpressure": conf.flag("spark.streaming.backpressure.enabled"),
                   "write_ahead_log": conf.flag("spark.streaming.receiver.writeAheadLog.enable")}
        if conf.contains("spark.streaming.blockInterval"):
            options["block_interval"] = conf.get("spark.streaming.blockInterval")
        if conf.contains("spark.streaming.backpressure.initialRate"):
            options["initial_rate"] = conf.number("spark.streaming.backpressure.initialRate")
        if conf.contains("spark.streaming.backpressure.pid.minRate"):
            options["min_rate"] = conf.number("spark.streaming.backpressure.pid.minRate")
        return wrap(self.ssc.socket_text_stream(hostname, port, conf.number("spark.streaming.receiver.maxRate"),
                                                **options))

    def start(self) -> None:
        if self.ssc.checkpoint_dir is None and self._sc._checkpoint_dir is not None:
            self.ssc.checkpoint(self._sc._checkpoint_dir)  # as Spark: stateful streams checkpoint there
        self.ssc.start()
        graceful = self._conf.flag("spark.streaming.stopGracefullyOnShutdown")
        self._exit_hook = lambda: self.stop(stopSparkContext=True, stopGraceFully=graceful)
        atexit.register(self._exit_hook)

    def stop(self, stopSparkContext=True, stopGraceFully=False) -> None:
        if self._exit_hook is not None:
            atexit.unregister(self._exit_hook)
            self._exit_hook = None
        self.ssc.stop(stop_client=None if stopSparkContext else False, graceful=stopGraceFully)
        if stopSparkContext:
            self._sc.stop()

    def __getattr__(self, name):
        raise missing(type(self), name)

    def __repr__(self):
        return f"<pyspark StreamingContext over {self.ssc!r}>"


install(StreamingContext, names.STREAMING_CONTEXT, "ssc")
