"""Test receivers, a line server and waiting helpers for the receiver tests.

The session cluster runs its workers in this process (processes=False), so receivers here report
to the test through module-level state keyed by a per-test token.
"""
from __future__ import annotations

import collections
import socket
import threading
import time

from dstreams import Receiver, StreamingListener

#: per-test state shared between the test and the receivers it runs (same process)
SHARED: dict = collections.defaultdict(dict)


def wait_until(predicate, timeout: float = 15.0, what: str = "condition"):
    """Wait until ``predicate()`` is true (polling every 10 ms); fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


class LineServer:
    """A TCP server on 127.0.0.1 that keeps every connection open and sends lines when told to."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections.append(conn)

    def wait_for_connections(self, n: int, timeout: float = 15.0):
        wait_until(lambda: len(self.connections) >= n, timeout, f"{n} connection(s) to the line server")
        return self.connections[n - 1]

    def send(self, lines, raw: bytes | None = None) -> None:
        """Send ``lines`` (each followed by a newline) on the newest connection."""
        data = raw if raw is not None else "".join(f"{line}\n" for line in lines).encode("utf-8")
        with self._lock:
            conn = self.connections[-1]
        conn.sendall(data)

    def close(self) -> None:
        self._closed = True
        self.sock.close()
        with self._lock:
            for c in self.connections:
                c.close()


class Events(StreamingListener):
    """Records receiver and streaming events."""

    def __init__(self):
        self.started, self.errors, self.stopped, self.streaming_errors = [], [], [], []

    def on_receiver_started(self, info):
        self.started.append(info)

    def on_receiver_error(self, info):
        self.errors.append(info)

    def on_receiver_stopped(self, info):
        self.stopped.append(info)

    def on_streaming_error(self, error):
        self.streaming_errors.append(error)


class ThreadedReceiver(Receiver):
    """Runs ``self.produce()`` on a thread started by on_start; on_stop joins it."""

    def __init__(self, token):
        self.token = token

    @property
    def shared(self):
        return SHARED[self.token]

    def on_start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            self.produce()
        except Exception as e:  # a failing source: restart
            self.restart("produce() failed", e)

    def on_stop(self):  # also called when on_start raised
        thread = getattr(self, "_thread", None)
        if thread is not None:
            thread.join(10)
        self.shared["stops"] = self.shared.get("stops", 0) + 1

    def produce(self):
        raise NotImplementedError


class CountingReceiver(ThreadedReceiver):
    """Stores ``n`` numbered records one at a time, then idles; sets SHARED[token]['stored'] to the count."""

    def __init__(self, token, n):
        super().__init__(token)
        self.n = n

    def produce(self):
        for i in range(self.n):
            self.store(i)
            self.shared["stored"] = i + 1
        while not self.is_stopped():
            time.sleep(0.01)
