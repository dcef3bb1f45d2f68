"""SparkConf: Spark settings, of which dstreams honours those listed in :data:`HONOURED`."""
from __future__ import annotations

import warnings

#: the Spark settings that mean something here, and what they do
HONOURED = {
    "spark.master": "`local[N]` / `local[*]`: an in-process Dask cluster with N threads (at least 2); "
                    "`tcp://host:8786`: that Dask scheduler",
    "spark.app.name": "kept as `sc.appName`",
    "spark.default.parallelism": "`sc.defaultParallelism`: `parallelize`'s partitions (default: cluster threads)",
    "spark.streaming.backpressure.enabled": "backpressure on Kafka and socket streams (Spark's PID estimator)",
    "spark.streaming.backpressure.initialRate": "with backpressure, the records/s of the first batch",
    "spark.streaming.backpressure.pid.minRate": "with backpressure, the lowest rate (records/s)",
    "spark.streaming.kafka.maxRatePerPartition": "records/s per Kafka partition at most",
    "spark.streaming.receiver.maxRate": "records/s per receiver (socket stream) at most",
    "spark.streaming.blockInterval": "how often a receiver cuts a block (`200ms`)",
    "spark.streaming.receiver.writeAheadLog.enable": "receivers write blocks to a log in the checkpoint directory",
    "spark.streaming.stopGracefullyOnShutdown": "at interpreter exit, an active context stops gracefully",
}


class SparkConf:
    """Spark settings as key/value strings (PySpark's ``SparkConf``).

    The settings in :data:`HONOURED` are used; a SparkContext made with others warns once, naming them.

    Examples
    --------
    >>> conf = SparkConf().setAppName("wordcount").set("spark.default.parallelism", "4")
    >>> conf.get("spark.default.parallelism")
    '4'
    """

    def __init__(self, loadDefaults: bool = True, _jvm=None, _jconf=None):
        self._settings: dict[str, str] = {}

    def set(self, key: str, value) -> SparkConf:
        self._settings[str(key)] = str(value)
        return self

    def setIfMissing(self, key: str, value) -> SparkConf:
        self._settings.setdefault(str(key), str(value))
        return self

    def setAll(self, pairs) -> SparkConf:
        for key, value in pairs:
            self.set(key, value)
        return self

    def setAppName(self, value: str) -> SparkConf:
        return self.set("spark.app.name", value)

    def setMaster(self, value: str) -> SparkConf:
        return self.set("spark.master", value)

    def get(self, key: str, defaultValue: str | None = None) -> str | None:
        return self._settings.get(key, defaultValue)

    def getAll(self) -> list[tuple[str, str]]:
        return sorted(self._settings.items())

    def contains(self, key: str) -> bool:
        return key in self._settings

    def flag(self, key: str) -> bool:
        return self.get(key, "false").strip().lower() == "true"

    def number(self, key: str):
        value = self.get(key)
        return None if value is None else float(value)

    def warn_ignored(self) -> None:
        """Warn once, naming the settings given that dstreams does not use."""
        ignored = sorted(k for k in self._settings if k not in HONOURED)
        if ignored:
            warnings.warn(f"dstreams.pyspark ignores these Spark settings: {', '.join(ignored)}; the ones it "
                          f"uses are {', '.join(sorted(HONOURED))} (see docs/programming-guide.md)", stacklevel=3)

    def __repr__(self):
        return f"SparkConf({dict(self.getAll())})"
