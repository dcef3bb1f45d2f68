"""Receivers with a write-ahead log: blocks logged before store() returns, recovered after a driver crash."""
from __future__ import annotations

import datetime
import queue
import threading
import time
import uuid

import fsspec
import pytest

from dstreams import StreamingContext
from dstreams.errors import CheckpointError
from dstreams.sources.receiver.wal import WriteAheadLog
from dstreams.testing import ManualClock, run_batches

from .support import SHARED, ThreadedReceiver, wait_until


@pytest.fixture
def token():
    t = uuid.uuid4().hex
    SHARED[t]["blocks"] = queue.Queue()
    SHARED[t]["out"] = {}
    yield t
    SHARED.pop(t, None)


class ScriptedReceiver(ThreadedReceiver):
    """Stores every list put on the test's queue as one block, then acknowledges it."""

    def produce(self):
        while not self.is_stopped():
            try:
                block = self.shared["blocks"].get(timeout=0.05)
            except queue.Empty:
                continue
            self.store(list(block))
            self.shared.setdefault("acked", []).append(block)


class record:  # noqa: N801 - an output function; a class, so that a checkpoint holds only the token
    def __init__(self, token):
        self.token = token

    def __call__(self, t, rdd):
        t = round((t - datetime.datetime(1970, 1, 1)).total_seconds() * 1000)
        shared = SHARED[self.token]
        gate = shared.get("gate")
        if gate is not None and t == 2000:
            gate.wait(20)
        shared["out"].setdefault(shared.get("phase", 1), []).append((t, sorted(rdd.collect())))


def test_write_ahead_log_needs_a_checkpoint_directory(ssc, token):
    ssc.receiver_stream(ScriptedReceiver(token), write_ahead_log=True).pprint()
    with pytest.raises(ValueError, match="write_ahead_log=True but the context has no checkpoint directory"):
        ssc.start()


def test_blocks_are_logged_before_store_returns_without_a_replica(client, ssc, token, tmp_path):
    ssc.checkpoint(str(tmp_path))
    stream = ssc.receiver_stream(ScriptedReceiver(token), write_ahead_log=True)
    stream.foreach_rdd(record(token))
    ssc.start()
    SHARED[token]["blocks"].put(["a", "b"])
    wait_until(lambda: SHARED[token].get("acked"), what="the block to be acknowledged")
    logged = WriteAheadLog(stream.wal_dir(), writer="reader").read_all()
    assert len(logged) == 1  # in the log once store() returned
    keys = [str(k) for k in client.who_has() if str(k).startswith("rblock-")]
    assert len(keys) == 1 and not keys[0].endswith("-r")  # the log replaces the replica
    wait_until(lambda: ssc.runtime.receiver_tracker.num_records_received(stream.id) == 2, what="the block's metadata")
    run_batches(ssc, 1)
    assert SHARED[token]["out"][1] == [(1000, ["a", "b"])]


def _copy_tree(fs, src, dst):
    for path in fs.find(src):
        target = dst + path[len(src):]
        fs.makedirs(fs._parent(target), exist_ok=True)
        fs.pipe_file(target, fs.cat_file(path))


def _crash(client, token, base, v1=lambda ssc, stream: stream):
    """Run until a driver would crash with batch 2000 (block B) pending and block C not allocated; leave
    behind, in ``<base>/ckpt``, what the crashed driver would (its checkpoints and log)."""
    fs, root = fsspec.core.url_to_fs(base)
    directory = f"{base}/ckpt"
    shared = SHARED[token]
    shared["gate"] = threading.Event()
    ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())
    ssc.checkpoint(directory)
    stream = v1(ssc, ssc.receiver_stream(ScriptedReceiver(token), write_ahead_log=True))
    stream.foreach_rdd(record(token))
    try:
        ssc.start()
        tracker = ssc.runtime.receiver_tracker
        shared["blocks"].put(["a1", "a2"])
        wait_until(lambda: tracker.num_records_received(stream.id) == 2, what="block A")
        shared["gate"].set()
        run_batches(ssc, 1)  # batch 1000 takes A and is done
        shared["gate"] = threading.Event()
        shared["blocks"].put(["b1"])
        wait_until(lambda: tracker.num_records_received(stream.id) == 3, what="block B")
        ssc.clock.advance(1)  # batch 2000 takes B, is checkpointed as pending and waits at the gate
        wait_until(lambda: 2000 in ssc._generator.pending, what="batch 2000 to be generated")
        shared["blocks"].put(["c1", "c2", "c3"])
        wait_until(lambda: tracker.num_records_received(stream.id) == 6, what="block C (not allocated)")
        _copy_tree(fs, f"{root}/ckpt", f"{root}/crashed")  # what a driver killed now leaves behind
    finally:
        shared["gate"].set()
        ssc.stop(stop_client=False)
    fs.rm(f"{root}/ckpt", recursive=True)
    _copy_tree(fs, f"{root}/crashed", f"{root}/ckpt")
    shared["phase"] = 2
    return directory


@pytest.mark.parametrize("where", ["local", "memory"])  # memory://: an object store, a log file per block
def test_driver_crash_replays_pending_and_unallocated_blocks_from_the_log(client, token, tmp_path, where):
    base = str(tmp_path) if where == "local" else f"memory://wal-crash-{token}"
    directory = _crash(client, token, base)
    recovered = StreamingContext.get_or_create(directory, lambda: None, client=client, clock=ManualClock(2000))
    try:
        assert recovered.recovered
        recovered.start()
        recovered._scheduler.wait_for(2000, 60)
        run_batches(recovered, 1)
        assert SHARED[token]["out"][2] == [(2000, ["b1"]), (3000, ["c1", "c2", "c3"])]  # A is not replayed
    finally:
        recovered.stop(stop_client=False)
        if where == "memory":
            fsspec.filesystem("memory").rm(f"/wal-crash-{token}", recursive=True)


def test_a_new_version_resumes_the_old_versions_log(client, token, tmp_path):
    directory = _crash(client, token, str(tmp_path), v1=lambda ssc, stream: stream.named("events"))

    def version_2():  # another source before the receiver (so its stream id differs), one more operator
        ssc = StreamingContext(client, batch_interval=1, clock=ManualClock(2000))
        ssc.checkpoint(directory)
        ssc.queue_stream([]).named("other").pprint()
        stream = ssc.receiver_stream(ScriptedReceiver(token), write_ahead_log=True).named("events")
        stream.map(str.upper).foreach_rdd(record(token))
        return ssc

    upgraded = StreamingContext.get_or_create(directory, version_2, client=client, upgrade=True)
    try:
        assert upgraded.restored_streams["events"] == "restored"
        (stream,) = [s for s in upgraded.runtime.graph.inputs if s.name == "events"]
        assert stream.wal_dir() == f"{directory}/received/0"  # it goes on writing the old version's log
        upgraded.start()
        upgraded._scheduler.wait_for(2000, 60)
        SHARED[token]["blocks"].put(["d1"])  # received by the new version, after the old log's blocks
        blocks = upgraded.runtime.receiver_tracker.blocks
        wait_until(lambda: any(b.future is not None for b in blocks.unallocated(stream.id)), what="block D")
        run_batches(upgraded, 1)
        assert SHARED[token]["out"][2] == [(2000, ["B1"]), (3000, ["C1", "C2", "C3", "D1"])]  # A is not replayed
    finally:
        upgraded.stop(stop_client=False)


def test_a_receiver_without_a_log_is_not_resumed(client, token, tmp_path):
    directory = str(tmp_path / "ckpt")

    def setup(write_ahead_log):
        def build():
            ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())
            ssc.checkpoint(directory)
            ssc.receiver_stream(ScriptedReceiver(token), write_ahead_log=write_ahead_log).named("events").pprint()
            return ssc
        return build

    ssc = StreamingContext.get_or_create(directory, setup(False), client=client)
    run_batches(ssc, 1)
    ssc.stop(stop_client=False)
    with pytest.raises(CheckpointError, match="cannot resume stream 'events'.*write_ahead_log=True"):
        StreamingContext.get_or_create(directory, setup(False), client=client, upgrade=True)
    with pytest.raises(CheckpointError, match="'events' cannot resume: the old version's receiver had no write-ahead"):
        StreamingContext.get_or_create(directory, setup(True), client=client, upgrade=True)


def _cleared(ssc, t):
    """Wait until the metadata of batch ``t`` was cleared (and the log cleaned after it)."""
    wait_until(lambda: t not in ssc._generator.pending, what=f"batch {t} to be cleared")
    from dstreams.scheduler.generator import Flush

    done = threading.Event()
    ssc._generator._events.put(Flush(done))
    assert done.wait(10)


def test_old_log_files_are_deleted_once_their_batches_are_done(client, ssc, token, tmp_path, monkeypatch):
    from dstreams.sources.receiver import input as receiver_input
    from dstreams.sources.receiver import wal

    monkeypatch.setattr(receiver_input, "CLEAN_MARGIN_MS", 0)
    monkeypatch.setattr(wal, "ROLL_MS", 100)  # the receiver's files roll every 100 ms
    ssc.checkpoint(str(tmp_path))
    stream = ssc.receiver_stream(ScriptedReceiver(token), write_ahead_log=True)
    stream.window(2).foreach_rdd(lambda rdd: None)  # batch 1000's blocks are needed until batch 2000's window
    ssc.start()
    log = WriteAheadLog(stream.wal_dir(), writer="reader")
    tracker = ssc.runtime.receiver_tracker
    old = log.write(b"no block of the stream needs this", time_ms=0)
    SHARED[token]["blocks"].put(["a"])
    wait_until(lambda: tracker.num_records_received(stream.id) == 1, what="block A")
    (block,) = tracker.blocks.unallocated(stream.id)
    time.sleep(0.25)  # the time range of A's file is over
    remember = stream.remember_ms
    assert remember >= 2000  # at least the window
    for t in range(1000, 1000 + remember + 1000, 1000):
        run_batches(ssc, 1)
        _cleared(ssc, t)
        assert old.path not in log.files()  # deleted at once: nothing needs it
        # A's batch (1000) is done at once, but its blocks are needed while a window or remember holds it
        assert (block.segment[0] in log.files()) == (t - remember < 1000), t
    assert tracker.blocks.wal_state(stream.id)["done"] == set()  # forgotten with its file
