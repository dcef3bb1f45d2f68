"""Socket receiver benchmark: records/s of a socket_text_stream word count against a bare Python socket
reader on the same data, and the latency from a line being sent to its batch finishing (200 ms and 1 s
batch intervals).

Run with `make bench` or `python benchmarks/socket_throughput.py [--lines N]`.
"""
from __future__ import annotations

import argparse
import operator
import socket
import statistics
import threading
import time

from distributed import Client, LocalCluster

from dstreams import StreamingContext, StreamingListener

LINE = "the quick brown fox jumps over the lazy dog {i}\n"


def line_server(lines, pace=None):
    """A server on a free port that sends ``lines`` lines to its first client (``pace``: lines/s, or max)."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    sent_at = {}

    def serve():
        conn, _ = server.accept()
        with conn:
            chunk = 1000 if pace is None else 1
            for start in range(0, lines, chunk):
                batch = "".join(LINE.format(i=i) for i in range(start, min(lines, start + chunk)))
                sent_at[start] = time.monotonic()
                conn.sendall(batch.encode())
                if pace is not None:
                    time.sleep(1 / pace)
            time.sleep(30)  # keep the connection open while the receiver drains it

    threading.Thread(target=serve, daemon=True).start()
    return server, port, sent_at


def bare_reader(lines):
    server, port, _ = line_server(lines)
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock, sock.makefile("r", encoding="utf-8") as fh:
        words = 0
        for n, line in enumerate(fh, 1):
            words += len(line.split())
            if n == lines:
                break
    server.close()
    return lines / (time.monotonic() - start)


class Progress(StreamingListener):
    def __init__(self):
        self.records, self.first_start, self.last_end = 0, None, None
        self.done = threading.Event()

    def on_batch_completed(self, info):
        if info.num_records:
            self.records += info.num_records
            if self.first_start is None:
                self.first_start = info.processing_start_time_ms
            self.last_end = info.processing_end_time_ms


def dstreams_throughput(client, lines):
    server, port, _ = line_server(lines)
    ssc = StreamingContext(client, batch_interval=1.0)
    progress = Progress()
    ssc.add_listener(progress)
    counted = []
    ssc.socket_text_stream("127.0.0.1", port).flat_map(str.split).map(lambda w: (w, 1)) \
        .reduce_by_key(operator.add).foreach_rdd(lambda rdd: counted.append(sum(n for _, n in rdd.collect())))
    ssc.start()
    deadline = time.monotonic() + 300
    while progress.records < lines and time.monotonic() < deadline:
        time.sleep(0.05)
    ssc.stop(stop_client=False)
    server.close()
    assert progress.records == lines, f"counted {progress.records} of {lines} lines"
    assert sum(counted) == lines * 10
    # the receiver stores while batches run: time from the first batch with data to the last one
    return lines / max(0.001, (progress.last_end - progress.first_start + 1000) / 1000)


def latency(client, interval, seconds=6, pace=50):
    lines = int(seconds * pace)
    server, port, sent_at = line_server(lines, pace=pace)
    ssc = StreamingContext(client, batch_interval=interval)
    delays = []

    def measure(rdd):
        done = time.monotonic()
        for record in rdd.collect():
            i = int(record.rsplit(" ", 1)[1])
            delays.append(done - sent_at[i])

    ssc.socket_text_stream("127.0.0.1", port, block_interval=min(0.2, interval / 2)).foreach_rdd(measure)
    ssc.start()
    deadline = time.monotonic() + seconds + 30
    while len(delays) < lines and time.monotonic() < deadline:
        time.sleep(0.05)
    ssc.stop(stop_client=False)
    server.close()
    return statistics.median(delays), max(delays), len(delays), lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=200_000)
    args = ap.parse_args()
    bare = bare_reader(args.lines)
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        ours = dstreams_throughput(client, args.lines)
        print(f"socket word count of {args.lines} lines (2 workers x 2 threads, one receiver, 1 s batches):")
        print(f"  bare Python socket reader : {bare:12,.0f} lines/s")
        print(f"  dstreams socket stream    : {ours:12,.0f} lines/s ({ours / bare:.2f}x the bare reader)")
        for interval in (0.2, 1.0):
            median, worst, got, sent = latency(client, interval)
            print(f"  latency at {interval * 1000:4.0f} ms batches: median {median * 1000:6.0f} ms, "
                  f"max {worst * 1000:6.0f} ms, from a line sent to its batch done ({got}/{sent} lines)")


if __name__ == "__main__":
    main()
