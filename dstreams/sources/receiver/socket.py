"""SocketReceiver: text lines from a TCP server (Spark's ``socketTextStream``)."""
from __future__ import annotations

import socket
import threading

from .api import Receiver


class SocketReceiver(Receiver):
    """Connects to ``host:port`` and stores every line it reads as one record (a ``str``, without the
    line end). When the connection fails or the server closes it, the receiver is restarted, which
    connects again. What the server sent while no receiver was connected is lost: for data that must
    not be lost, use a source that can replay it, such as Kafka.

    Parameters
    ----------
    host, port : str, int
        The server to connect to, from the worker the receiver runs on.
    encoding : str
        Text encoding of the lines (default utf-8); undecodable bytes become U+FFFD.
    connect_timeout : float
        Seconds to wait for the connection before restarting.

    Examples
    --------
    >>> lines = ssc.socket_text_stream("127.0.0.1", 9999)  # doctest: +SKIP
    >>> lines.flat_map(str.split).count_by_value().pprint()  # doctest: +SKIP
    """

    READ_TIMEOUT_S = 0.2  # how often the reading thread checks is_stopped() while the server is silent

    def __init__(self, host: str, port: int, encoding: str = "utf-8", connect_timeout: float = 10.0):
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ValueError(f"port must be an integer in 1..65535, got {port!r}")
        "".encode(encoding)  # LookupError now for an unknown encoding
        self.host, self.port, self.encoding, self.connect_timeout = host, port, encoding, connect_timeout

    def __repr__(self):
        return f"<SocketReceiver {self.host}:{self.port}>"

    def on_start(self):
        self._sock = None
        self._thread = threading.Thread(target=self._receive, name=f"dstreams-socket-{self.host}:{self.port}",
                                        daemon=True)
        self._thread.start()

    def on_stop(self):
        self._thread.join(self.connect_timeout + 5 * self.READ_TIMEOUT_S)
        sock = self._sock
        if sock is not None:
            sock.close()

    def _receive(self):
        where = f"{self.host}:{self.port}"
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as e:
            if not self.is_stopped():
                self.restart(f"error connecting to {where}", e)
            return
        self._sock = sock
        sock.settimeout(self.READ_TIMEOUT_S)
        pending = b""
        while not self.is_stopped():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as e:
                if not self.is_stopped():
                    self.restart(f"error receiving data from {where}", e)
                return
            if not data:
                if pending:
                    self._store_line(pending)
                if not self.is_stopped():
                    self.restart(f"the server {where} closed the connection: no more data")
                return
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                self._store_line(line)

    def _store_line(self, line: bytes) -> None:
        self.store(line.rstrip(b"\r").decode(self.encoding, errors="replace"))
