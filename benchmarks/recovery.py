"""Recovery time: from restarting a SIGKILLed driver to its first completed batch.

Runs examples/recoverable_wordcount.py against a dev broker and PostgreSQL (127.0.0.1:5432), kills it
with SIGKILL mid-stream, restarts it (StreamingContext.get_or_create), and measures the seconds from the
new process's start to the first batch it stored; compared with a cold start of the same program.
"""
from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from dstreams.dev.broker import DevBroker

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "recoverable_wordcount.py"
DSN = "host=127.0.0.1 dbname=test user=postgres"


def time_to_first_batch(args, expect):
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(EXAMPLE), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen_expect = False
    for line in proc.stdout:
        seen_expect |= expect in line
        if "batch" in line and ("stored" in line):
            elapsed = time.monotonic() - start
            break
    else:
        raise RuntimeError(f"the driver exited before its first batch (exit {proc.wait()})")
    assert seen_expect, f"the driver did not print {expect!r}"
    return proc, elapsed


def main(rounds=3):
    prefix = f"bench_{uuid.uuid4().hex[:6]}_"
    with DevBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        broker.create_topic("words", 2)
        for p in range(2):
            broker.produce("words", ["to be or not to be"] * 200, partition=p)
        args = ["--bootstrap-servers", broker.bootstrap_servers, "--topic", "words", "--checkpoint",
                f"{tmp}/ckpt", "--dsn", DSN, "--table-prefix", prefix, "--interval", "0.5"]
        try:
            proc, cold = time_to_first_batch(args, "a new context")
            time.sleep(1.0)
            recoveries = []
            for _ in range(rounds):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                for p in range(2):
                    broker.produce("words", ["killed and back"] * 50, partition=p)
                proc, elapsed = time_to_first_batch(args, "recovered from the checkpoint")
                recoveries.append(elapsed)
                time.sleep(1.0)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        finally:
            with psycopg.connect(DSN) as conn:
                for table in ("counts", "totals", "offsets"):
                    conn.execute(f"DROP TABLE IF EXISTS {prefix}{table}")
    print("driver restart to first completed batch (process start, in-process LocalCluster, 0.5 s batches):")
    print(f"  cold start (no checkpoint): {cold:5.2f} s")
    print(f"  recovery after SIGKILL    : {statistics.median(recoveries):5.2f} s median of {rounds} "
          f"({', '.join(f'{r:.2f}' for r in recoveries)})")


if __name__ == "__main__":
    main()
