"""Word count over lines read from a TCP socket by a receiver, in real time.

The program starts its own small line server on 127.0.0.1 (a thread that sends a few lines every
0.3 s, as ``nc -lk 9999`` would with someone typing), and a ``socket_text_stream`` that connects to it.
The receiver runs on a Dask worker as one long-lived task; every 0.5 s the lines it received become a
batch whose words are counted and printed. Once every line sent has been counted, the context stops
gracefully and the program prints the counts summed over all batches.

A receiver holds one worker thread for its whole life, so the cluster needs more threads than there are
receivers: this example starts an in-process cluster of 2 workers with 2 threads each.

Run it with ``python examples/socket_wordcount.py``; it finishes in a few seconds.
"""
from __future__ import annotations

import collections
import operator
import socket
import threading
import time

from distributed import Client, LocalCluster

from dstreams import StreamingContext

ROUNDS = [
    ["the quick brown fox", "jumps over the lazy dog"],
    ["the dog barks", "the fox runs away"],
    ["a quick word count"],
]


def serve_lines(server: socket.socket, stop: threading.Event) -> None:
    """Accept one connection, send a round of lines every 0.3 s, keep the connection open until ``stop``."""
    conn, _ = server.accept()
    with conn:
        for lines in ROUNDS:
            conn.sendall("".join(f"{line}\n" for line in lines).encode("utf-8"))
            time.sleep(0.3)
        stop.wait(30)


def main() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop_server = threading.Event()
    threading.Thread(target=serve_lines, args=(server, stop_server), daemon=True).start()

    n_lines = sum(len(lines) for lines in ROUNDS)
    totals: collections.Counter = collections.Counter()
    lines_seen = 0
    all_seen = threading.Event()

    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        ssc = StreamingContext(client, batch_interval=0.5)
        lines = ssc.socket_text_stream("127.0.0.1", port)
        counts = lines.flat_map(str.split).map(lambda w: (w, 1)).reduce_by_key(operator.add)
        counts.pprint()

        def add_to_totals(rdd):
            totals.update(dict(rdd.collect()))

        def count_lines(rdd):
            nonlocal lines_seen
            lines_seen += rdd.count()
            if lines_seen >= n_lines:
                all_seen.set()

        counts.foreach_rdd(add_to_totals)
        lines.foreach_rdd(count_lines)

        ssc.start()  # returns at once; the receiver connects from a worker
        if not all_seen.wait(timeout=15):
            raise SystemExit(f"only {lines_seen} of {n_lines} lines were counted within 15 s")
        ssc.stop(graceful=True)  # stops the receiver first, then processes what it received
        stop_server.set()

    print("word counts over all batches:")
    for word, n in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {word}: {n}")


if __name__ == "__main__":
    main()
