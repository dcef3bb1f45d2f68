"""Table-driven operation checks, as Spark's TestSuiteBase.testOperation."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from dstreams import StreamingContext
from dstreams.testing import ManualClock, run_batches

REPO_ROOT = Path(__file__).resolve().parent.parent


def _norm(batch, ordered):
    return list(batch) if ordered else sorted(batch, key=repr)


def check_operation(client, inputs, operation, expected, *, ordered=False, batch_interval=1,
                    checkpoint_dir=None, num_batches=None):
    """Spark's ``testOperation``: feed ``inputs`` one batch per interval, compare each batch's output.

    ``operation(stream)`` returns the stream under test; ``expected`` lists the records of each batch.
    """
    ssc = StreamingContext(client, batch_interval=batch_interval, clock=ManualClock())
    try:
        if checkpoint_dir is not None:
            ssc.checkpoint(str(checkpoint_dir))
        outputs = []
        operation(ssc.queue_stream(inputs)).foreach_rdd(lambda rdd: outputs.append(rdd.collect()))
        run_batches(ssc, num_batches or len(expected))
    finally:
        ssc.stop(stop_client=False)
    got = [_norm(b, ordered) for b in outputs]
    want = [_norm(b, ordered) for b in expected]
    assert got == want, f"\n got: {got}\nwant: {want}"
    return outputs


def check_table(client, inputs, operations=(), actions=()):
    """Many table rows over the same input batches in one context (a context per row costs more than the row).

    ``operations`` are ``(name, operation(stream), expected records per batch, ordered)``: each runs on its own
    queue stream of ``inputs``, as :func:`check_operation`. ``actions`` are ``(name, action(rdd), expected
    result per batch)``: each is called on the driver with every batch's RDD. Every row that differs is
    reported, by name.
    """
    ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())
    got = {}
    try:
        for name, operation, _, _ in operations:
            out = got[name] = []
            operation(ssc.queue_stream(inputs)).foreach_rdd(lambda rdd, out=out: out.append(rdd.collect()))
        source = ssc.queue_stream(inputs)
        for name, action, _ in actions:
            out = got[name] = []
            source.foreach_rdd(lambda rdd, out=out, action=action: out.append(action(rdd)))
        run_batches(ssc, len(inputs))
    finally:
        ssc.stop(stop_client=False)
    wrong = [f"{name}:\n got: {[_norm(b, ordered) for b in got[name]]}\nwant: {[_norm(b, ordered) for b in want]}"
             for name, _, want, ordered in operations
             if [_norm(b, ordered) for b in got[name]] != [_norm(b, ordered) for b in want]]
    wrong += [f"{name}:\n got: {got[name]}\nwant: {want}" for name, _, want in actions if got[name] != want]
    assert not wrong, "\n".join(wrong)


def check_operation2(client, inputs1, inputs2, operation, expected, *, ordered=False):
    """Two input streams: ``operation(stream1, stream2)``."""
    ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())
    try:
        outputs = []
        s1, s2 = ssc.queue_stream(inputs1), ssc.queue_stream(inputs2)
        operation(s1, s2).foreach_rdd(lambda rdd: outputs.append(rdd.collect()))
        run_batches(ssc, len(expected))
    finally:
        ssc.stop(stop_client=False)
    got = [_norm(b, ordered) for b in outputs]
    want = [_norm(b, ordered) for b in expected]
    assert got == want, f"\n got: {got}\nwant: {want}"


def die_with_parent():
    """``preexec_fn`` for a test's child process: it gets SIGTERM when pytest dies (Linux), so a killed run
    leaves no scheduler, worker or driver behind."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def dask_cli_cluster(directory, worker_commands, nworkers, env=None):
    """A `dask scheduler` and workers started with the `dask` command line, each in its own process.

    ``worker_commands`` lists ``(extra arguments, extra environment)`` per `dask worker` command;
    ``nworkers`` is how many workers they start in all. Yields the scheduler address.
    """
    sched_file = Path(directory) / "scheduler.json"
    base_env = dict(os.environ if env is None else env)
    base_env.pop("PYTHONHASHSEED", None)  # every process hashes strings differently, as in production
    base_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), base_env.get("PYTHONPATH")]))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": directory,
             "preexec_fn": die_with_parent}
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--scheduler-file", str(sched_file),
                               "--port", "0", "--dashboard-address", ":0", "--host", "127.0.0.1"],
                              env=base_env, **quiet)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sched_file.exists(), "dask scheduler did not start within 60 s"
        for args, extra_env in worker_commands:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", "--scheduler-file", str(sched_file),
                 "--dashboard-address", ":0", "--host", "127.0.0.1", *args],
                env={**base_env, **extra_env}, **quiet))
        address = json.loads(sched_file.read_text())["address"]
        from distributed import Client

        with Client(address, timeout="30s") as c:
            c.wait_for_workers(nworkers, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(5)  # a worker shutting down gracefully waits on timeouts: it holds nothing we need
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
