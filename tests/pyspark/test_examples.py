"""PySpark's streaming examples, ported by their imports only (examples/pyspark/), each run as a program against
a socket, a directory or a queue, for a few seconds, checking what it prints."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pyspark"
SECONDS = "4"  # how long the socket and file examples run (their last argument)


@pytest.fixture
def line_server():
    """A server sending "hello world a" every 0.2 s to every connection, until the test ends."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn):
        with conn:
            while not stop.wait(0.2):
                try:
                    conn.sendall(b"hello world a\n")
                except OSError:
                    return

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield "127.0.0.1", str(server.getsockname()[1])
    stop.set()
    server.close()


def run(name, *args, cwd, during=None):
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    if during is not None:
        during()
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"examples/pyspark/{name} did not finish within 60 s\n{out}\n{err}")
    assert proc.returncode == 0, f"examples/pyspark/{name} exited {proc.returncode}\n{out}\n{err}"
    return out


def test_network_wordcount(line_server, tmp_path):
    out = run("network_wordcount.py", *line_server, SECONDS, cwd=tmp_path)
    assert "('hello', 5)" in out or "('world', 5)" in out, out  # five lines a second


def test_stateful_network_wordcount(line_server, tmp_path):
    out = run("stateful_network_wordcount.py", *line_server, SECONDS, cwd=tmp_path)
    counts = [int(line.split(", ")[1].rstrip(")")) for line in out.splitlines() if line.startswith("('hello',")]
    assert counts and counts[0] >= 1 and counts == sorted(counts) and counts[-1] > 5, out  # from 1, growing


def test_recoverable_network_wordcount(line_server, tmp_path):
    args = (*line_server, str(tmp_path / "checkpoint"), str(tmp_path / "out.txt"), "3")
    first = run("recoverable_network_wordcount.py", *args, cwd=tmp_path)
    assert "Creating new context" in first and "('hello', " in first and "('a', " not in first, first
    second = run("recoverable_network_wordcount.py", *args, cwd=tmp_path)
    assert "Creating new context" not in second and "('hello', " in second, second
    assert (tmp_path / "out.txt").read_text().count("Counts at time") >= 2


def test_hdfs_wordcount(tmp_path):
    watched = tmp_path / "in"
    watched.mkdir()

    def drop_files():
        for i in range(6):  # a file every 0.5 s for 3 s, once the program had time to start
            time.sleep(0.5 if i else 2.0)
            staged = tmp_path / f"f{i}.txt"
            staged.write_text("hello files\nhello\n")
            staged.rename(watched / staged.name)

    out = run("hdfs_wordcount.py", str(watched), SECONDS, cwd=tmp_path, during=drop_files)
    assert "('files', " in out and "('hello', " in out, out


def test_queue_stream(tmp_path):
    out = run("queue_stream.py", cwd=tmp_path)
    assert out.count("(0, 100)") >= 2 and "(9, 100)" in out, out
