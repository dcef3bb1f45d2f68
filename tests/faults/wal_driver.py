"""A driver for the write-ahead-log kill test: a reliable receiver that acknowledges its source only
once ``store(block)`` returned, and an output that appends every record it sees to a file.

    python tests/faults/wal_driver.py --checkpoint DIR --source DIR --total N [--until-done]

The source is a counter: records ``r0 .. r<N-1>``; ``<source>/ack`` holds the position acknowledged so
far, from which a (re)started receiver resumes, so an acknowledged record is never sent again. The
output, ``<source>/out``, gets one line per record processed (at least once).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time

from dstreams import Receiver, StreamingContext

BLOCK = 5


def read_ack(source: str) -> int:
    try:
        with open(os.path.join(source, "ack")) as fh:
            return int(fh.read() or 0)
    except FileNotFoundError:
        return 0


def write_ack(source: str, pos: int) -> None:
    tmp = os.path.join(source, f"ack.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        fh.write(str(pos))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, os.path.join(source, "ack"))


class CounterReceiver(Receiver):
    """Reliable: each block is stored whole with store(list), and acknowledged only after."""

    def __init__(self, source: str, total: int):
        self.source, self.total = source, total

    def on_start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        pos = read_ack(self.source)
        while not self.is_stopped() and pos < self.total:
            end = min(pos + BLOCK, self.total)
            self.store([f"r{i}" for i in range(pos, end)])  # returns once logged
            write_ack(self.source, end)
            pos = end
            time.sleep(0.02)

    def on_stop(self):
        self._thread.join(10)


def append_output(source: str):
    path = os.path.join(source, "out")

    def out(rdd):
        records = rdd.collect()
        if records:
            with open(path, "a") as fh:
                fh.write("".join(f"{r}\n" for r in records))
                fh.flush()
                os.fsync(fh.fileno())

    return out


def seen(source: str) -> set:
    try:
        with open(os.path.join(source, "out")) as fh:
            return set(fh.read().split())
    except FileNotFoundError:
        return set()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--total", type=int, default=3000)
    parser.add_argument("--interval", type=float, default=0.3)
    parser.add_argument("--until-done", action="store_true")
    args = parser.parse_args(argv)

    def setup():
        print("a new context", flush=True)
        ssc = StreamingContext(None, batch_interval=args.interval)
        ssc.checkpoint(args.checkpoint)
        stream = ssc.receiver_stream(CounterReceiver(args.source, args.total), write_ahead_log=True,
                                     block_interval=0.05)
        stream.foreach_rdd(append_output(args.source))
        return ssc

    ssc = StreamingContext.get_or_create(args.checkpoint, setup)
    if ssc.recovered:
        print("recovered from the checkpoint", flush=True)
    ssc.start()
    print("started", flush=True)
    if not args.until_done:
        ssc.await_termination()
        return 1
    want = {f"r{i}" for i in range(args.total)}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if want <= seen(args.source):
            ssc.stop(graceful=True)
            print("done", flush=True)
            return 0
        time.sleep(0.2)
    missing = sorted(want - seen(args.source), key=lambda r: int(r[1:]))
    print(f"missing {len(missing)} records: {missing[:20]}", flush=True)
    ssc.stop()
    return 1


if __name__ == "__main__":
    sys.exit(main())
