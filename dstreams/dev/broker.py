"""A real Kafka-protocol broker for tests, demos and local development.

:class:`DevBroker` runs `noida-db <https://pypi.org/project/noida-db/>`_
(``pip install dstreams[dev-broker]``) with only its Kafka service enabled, on
a free local port, with its data in a directory that survives restarts.

Facts about noida-db 0.2.3 this module relies on (measured):

* it serves Kafka on ``--kafka-port`` and answers metadata requests within
  a fraction of a second of starting;
* it prints a harmless ``GLIBC_2.39 not found`` warning on start (ignored);
* it saves its data to ``--data-dir`` when it shuts down on SIGINT; a SIGKILL
  loses what was written since it started, so :meth:`DevBroker.stop` sends
  SIGINT first and kills only if the broker has not exited after a grace
  period (it may ignore SIGTERM while busy);
* it holds every record in memory: keep topics small;
* it ignores fetch size limits and answers a fetch with the partition's whole
  remaining log.

Examples
--------
>>> with DevBroker() as broker:  # doctest: +SKIP
...     broker.create_topic("words", partitions=2)
...     broker.produce("words", [b"a b", b"b c"])
...     print(broker.bootstrap_servers)
127.0.0.1:40123
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

__all__ = ["DevBroker", "DevBrokerError", "find_noida_db"]

log = logging.getLogger(__name__)

_GLIBC_NOISE = "GLIBC_"


class DevBrokerError(RuntimeError):
    """The development broker could not be found, started or stopped."""


def find_noida_db() -> str:
    """Path of the noida-db server executable.

    Prefers the binary inside the installed ``noida_db`` package (the
    ``noida-db`` script is a Python wrapper that, on Ctrl-C, kills the server
    0.25 s later, possibly before it saved its data), then ``noida-db`` on
    ``PATH`` or next to ``sys.executable``.

    Raises
    ------
    DevBrokerError
        If noida-db is not installed.
    """
    spec = importlib.util.find_spec("noida_db")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            binary = Path(location) / ("noida-db.exe" if os.name == "nt" else "noida-db")
            if binary.is_file():
                if not os.access(binary, os.X_OK):
                    binary.chmod(binary.stat().st_mode | 0o111)
                return str(binary)
    for candidate in (shutil.which("noida-db"), Path(sys.executable).with_name("noida-db")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise DevBrokerError(
        "noida-db is not installed: DevBroker runs the noida-db Kafka-protocol broker. "
        "Install it with `pip install dstreams[dev-broker]` (or `pip install noida-db`)."
    )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class DevBroker:
    """A local noida-db Kafka broker in a subprocess.

    Parameters
    ----------
    data_dir : str or Path, optional
        Where the broker keeps its data. By default a new temporary directory,
        removed by :meth:`close` (or on leaving the ``with`` block). A given
        directory is never removed.
    port : int, optional
        Kafka port; by default a free one is picked at the first start and
        kept across restarts.
    host : str, optional
        Address to bind, ``127.0.0.1`` by default.
    startup_timeout : float, optional
        Seconds :meth:`start` waits for the broker to serve metadata.
    stop_timeout : float, optional
        Seconds :meth:`stop` waits after SIGINT before killing the broker.

    Attributes
    ----------
    bootstrap_servers : str
        ``"host:port"`` for kafka-python's ``bootstrap_servers``.

    Examples
    --------
    >>> broker = DevBroker().start()  # doctest: +SKIP
    >>> broker.restart()  # same port, same data  # doctest: +SKIP
    >>> broker.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        data_dir: str | os.PathLike | None = None,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        startup_timeout: float = 30.0,
        stop_timeout: float = 5.0,
    ):
        self.host = host
        self._port = port
        self._owns_data_dir = data_dir is None
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._proc: subprocess.Popen | None = None
        self._log_path: Path | None = None
        self._admin = None
        self._producer = None
        self.last_startup_seconds: float | None = None

    # -- properties

    @property
    def port(self) -> int:
        """The Kafka port (picked at the first :meth:`start` unless given)."""
        if self._port is None:
            raise DevBrokerError("DevBroker has no port yet: call start() first")
        return self._port

    @property
    def bootstrap_servers(self) -> str:
        """``"host:port"`` of the broker."""
        return f"{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        """The broker's data directory (created at the first :meth:`start`)."""
        if self._data_dir is None:
            raise DevBrokerError("DevBroker has no data directory yet: call start() first")
        return self._data_dir

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        where = self.bootstrap_servers if self._port is not None else "no port yet"
        return f"<DevBroker {where} {state} data_dir={str(self._data_dir)!r}>"

    # -- lifecycle

    def start(self) -> DevBroker:
        """Start the broker and wait until it serves metadata.

        Returns
        -------
        DevBroker
            ``self``.

        Raises
        ------
        DevBrokerError
            If it is already running, noida-db is missing, or the broker did
            not come up within ``startup_timeout`` (with its output's tail).
        """
        if self.running:
            raise DevBrokerError(f"{self!r} is already running")
        binary = find_noida_db()
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="dstreams-devbroker-"))
        self._data_dir.mkdir(parents=True, exist_ok=True)
        if self._port is None:
            self._port = _free_port(self.host)
        if self._log_path is None:
            fd, name = tempfile.mkstemp(prefix="dstreams-devbroker-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        cmd = [
            binary, "start", "--only", "kafka", "--host", self.host,
            "--kafka-port", str(self._port), "--data-dir", str(self._data_dir),
        ]  # fmt: skip
        started = time.monotonic()
        with open(self._log_path, "ab") as out:
            out.write(f"--- {' '.join(cmd)}\n".encode())
            out.flush()
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self._wait_ready(started + self.startup_timeout)
        except BaseException:
            self._terminate()
            raise
        self.last_startup_seconds = time.monotonic() - started
        log.info("DevBroker up at %s in %.2fs", self.bootstrap_servers, self.last_startup_seconds)
        return self

    def _wait_ready(self, deadline: float) -> None:
        from kafka import KafkaConsumer

        while not _port_open(self.host, self._port):
            self._check_alive()
            if time.monotonic() >= deadline:
                self._fail(f"port {self._port} did not open within {self.startup_timeout:.0f}s")
            try:
                self._proc.wait(timeout=0.05)  # returns early if the broker exits
            except subprocess.TimeoutExpired:
                pass
        while True:
            self._check_alive()
            # short attempts, so that a broker that exits (port taken, bad data dir) is noticed
            attempt_ms = max(100, min(1000, int((deadline - time.monotonic()) * 1000)))
            try:
                client = KafkaConsumer(
                    bootstrap_servers=self.bootstrap_servers,
                    bootstrap_timeout_ms=attempt_ms,
                    request_timeout_ms=1000,
                    enable_auto_commit=False,
                )
                try:
                    client.topics()
                    return
                finally:
                    client.close(autocommit=False)
            except Exception as exc:
                if time.monotonic() >= deadline:
                    self._fail(f"no metadata from a Kafka client within {self.startup_timeout:.0f}s ({exc})")
                try:
                    self._proc.wait(timeout=0.05)  # back off; returns early if the broker exits
                except subprocess.TimeoutExpired:
                    pass

    def _check_alive(self) -> None:
        code = self._proc.poll()
        if code is not None:
            self._fail(f"noida-db exited with code {code}")

    def _fail(self, what: str) -> None:
        raise DevBrokerError(
            f"DevBroker at {self.host}:{self._port} (data dir {self._data_dir}) did not start: {what}. "
            f"Broker output ({self._log_path}):\n{self.output_tail()}"
        )

    def output_tail(self, lines: int = 20) -> str:
        """The last lines of the broker's output, without the GLIBC warning."""
        if self._log_path is None or not self._log_path.exists():
            return "(no output)"
        text = self._log_path.read_text(errors="replace").splitlines()
        kept = [line for line in text if _GLIBC_NOISE not in line]
        return "\n".join(kept[-lines:]) or "(no output)"

    def _server_pid(self) -> int:
        """The server's pid: the process we started, or the one it names in its control file."""
        try:
            pid = int(json.loads((self._data_dir / "noida.control.json").read_text())["pid"])
            if pid != self._proc.pid and os.getpgid(pid) == self._proc.pid:
                return pid  # started through a wrapper script: signal the real server
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return self._proc.pid

    def stop(self) -> None:
        """Stop the broker gracefully (its data is saved); a no-op if not running.

        Sends SIGINT, waits ``stop_timeout`` seconds, then kills the process
        group (data written since the start may then be lost: a warning is
        logged).
        """
        self._close_clients()
        if self._proc is None:
            return
        if self._proc.poll() is None:
            try:
                os.kill(self._server_pid(), signal.SIGINT)
                self._proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning("DevBroker did not stop within %.1fs of SIGINT; killing it", self.stop_timeout)
            except ProcessLookupError:
                pass
        self._terminate()

    def _terminate(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:  # not reaped yet, so its process group is still ours
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._proc.wait()
        self._proc = None

    def restart(self) -> DevBroker:
        """Stop, then start again on the same port with the same data."""
        self.stop()
        deadline = time.monotonic() + self.stop_timeout
        while _port_open(self.host, self.port) and time.monotonic() < deadline:
            time.sleep(0.05)  # the old listener is going away
        return self.start()

    def close(self) -> None:
        """Stop the broker and remove the temporary data directory and log it created."""
        self.stop()
        if self._owns_data_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> DevBroker:
        if not self.running:
            try:
                self.start()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- helpers

    def admin(self):
        """This broker's ``kafka.KafkaAdminClient`` (created once, closed by :meth:`stop`)."""
        from kafka import KafkaAdminClient

        if self._admin is None:
            self._admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=10_000)
        return self._admin

    def close_clients(self) -> None:
        """Close the producer and admin client this object keeps for :meth:`produce` and topic calls; they
        are made again when next needed. A kafka-python producer left open after its topic was deleted
        keeps its network thread busy."""
        self._close_clients()

    def _close_clients(self) -> None:
        for client in (self._producer, self._admin):
            if client is not None:
                try:
                    client.close()
                except Exception:  # noqa: BLE001 - best effort on shutdown
                    log.debug("closing a DevBroker client failed", exc_info=True)
        self._admin = self._producer = None

    def create_topic(self, name: str, partitions: int = 1, *, timeout_s: float = 10.0) -> None:
        """Create a topic and wait until every partition has a leader.

        Raises
        ------
        kafka.errors.TopicAlreadyExistsError
            If the topic exists.
        """
        from kafka.admin import NewTopic

        admin = self.admin()
        admin.create_topics([NewTopic(name, partitions, 1)], timeout_ms=int(timeout_s * 1000))
        admin.wait_for_topics([name], timeout_ms=int(timeout_s * 1000))

    def add_partitions(self, topic: str, total: int, *, timeout_s: float = 10.0) -> None:
        """Grow ``topic`` to ``total`` partitions (Kafka never removes partitions)."""
        admin = self.admin()
        admin.create_partitions({topic: total}, timeout_ms=int(timeout_s * 1000))
        admin.wait_for_topics([topic], timeout_ms=int(timeout_s * 1000))

    def produce(
        self,
        topic: str,
        values: Iterable[bytes | str | None],
        *,
        partition: int | None = None,
        key: bytes | str | None = None,
    ) -> list[tuple[int, int]]:
        """Send values to a topic and wait until the broker has them.

        Parameters
        ----------
        values : iterable of bytes, str or None
            Record values; ``str`` is UTF-8 encoded.
        partition : int, optional
            Target partition; by default the producer's partitioner picks.
        key : bytes or str, optional
            The key of every record.

        Returns
        -------
        list of (partition, offset)
            Where each record went, in order.
        """
        from kafka import KafkaProducer

        if self._producer is not None and partition is not None:
            if partition not in (self._producer.partitions_for(topic) or ()):
                # kafka-python's producer refuses partitions missing from its cached metadata
                # (e.g. added by add_partitions): start a producer with fresh metadata.
                self._producer.close()
                self._producer = None
        if self._producer is None:
            self._producer = KafkaProducer(bootstrap_servers=self.bootstrap_servers, linger_ms=0)

        def encode(v):
            return v.encode() if isinstance(v, str) else v

        futures = [self._producer.send(topic, value=encode(v), key=encode(key), partition=partition) for v in values]
        self._producer.flush(timeout=30)
        return [(m.partition, m.offset) for m in (f.get(timeout=30) for f in futures)]
