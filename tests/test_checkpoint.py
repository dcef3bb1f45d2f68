"""Metadata checkpoints: atomic files, headers, signatures, corrupt files, and what get_or_create refuses."""
import json
import uuid

import fsspec
import pytest

from dstreams import StreamingContext
from dstreams.checkpoint import checkpoint_files, read_latest
from dstreams.errors import (
    CheckpointError,
    CheckpointSignatureError,
    CheckpointUnreadableError,
    CheckpointVersionError,
)
from dstreams.testing import ManualClock, run_batches

SEEN = []  # module level: functions in checkpoints refer to it by reference


def remember_batch(t, rdd):
    SEEN.append((t.second, sorted(rdd.collect())))


def file_graph(client, ckpt, src, key=None):
    ssc = StreamingContext(client, 1, clock=ManualClock())
    ssc.checkpoint(str(ckpt), checkpoint_key=key)
    ssc.text_file_stream(str(src)).foreach_rdd(remember_batch)
    return ssc


def test_checkpoints_are_written_each_batch_and_old_ones_deleted(client, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    ssc = file_graph(client, tmp_path / "ckpt", src)
    run_batches(ssc, 8)
    ssc.stop(stop_client=False)
    files = checkpoint_files(str(tmp_path / "ckpt"))
    assert len(files) == 5  # the newest five are kept
    assert not list((tmp_path / "ckpt").glob(".*tmp"))  # no temporary file left behind
    jsons = sorted((tmp_path / "ckpt").glob("snapshot-*.json"))
    assert len(jsons) == 5
    data = json.loads(jsons[-1].read_text())
    assert data["time_ms"] == 8000 and data["pending_times"] == [] and data["batch_ms"] == 1000
    assert "files_by_batch" in data["sources"]["text-file-0"]


def test_get_or_create_calls_setup_without_a_checkpoint(client, tmp_path):
    calls = []

    def setup():
        calls.append(1)
        ssc = StreamingContext(client, 1, clock=ManualClock())
        ssc.queue_stream([]).pprint()
        return ssc

    ssc = StreamingContext.get_or_create(str(tmp_path / "none"), setup, client=client)
    assert calls == [1] and ssc.checkpoint_dir == str(tmp_path / "none")
    ssc.stop(stop_client=False)


def test_recovery_goes_on_from_the_checkpoint(client, tmp_path):
    """A file stream recovered: files already taken are not read again, new ones are, down times run."""
    import os

    src = tmp_path / "in"
    src.mkdir()
    SEEN.clear()
    ssc = file_graph(client, tmp_path / "ckpt", src)
    ssc.start()
    (src / "a.txt").write_text("a\n")
    os.utime(src / "a.txt", (0.5, 0.5))
    run_batches(ssc, 2)
    ssc.stop(stop_client=False)  # the driver goes away after batch 2
    (src / "b.txt").write_text("b\n")
    os.utime(src / "b.txt", (3.5, 3.5))
    recovered = StreamingContext.get_or_create(str(tmp_path / "ckpt"), lambda: pytest.fail("setup called"),
                                               client=client, clock=ManualClock(4500))
    recovered.start()  # batches 3 and 4 passed while it was down: they run now
    recovered._scheduler.wait_for(4000, 30)
    run_batches(recovered, 1)
    recovered.stop(stop_client=False)
    assert SEEN == [(1, ["a"]), (2, []), (3, []), (4, ["b"]), (5, [])]


def test_queue_stream_runs_with_a_checkpoint_dir_but_is_not_recovered(client, tmp_path):
    ssc = StreamingContext(client, 1, clock=ManualClock())
    ssc.checkpoint(str(tmp_path))
    ssc.queue_stream([[1], [2]]).pprint()
    run_batches(ssc, 2)
    ssc.stop(stop_client=False)
    assert checkpoint_files(str(tmp_path))
    with pytest.raises(CheckpointError, match=r"'queue-0' \(QueueInputDStream: its data lives only in the driver"):
        StreamingContext.get_or_create(str(tmp_path), lambda: None, client=client)


def test_checkpoints_in_an_object_store_are_read_back(client, tmp_path):
    directory = f"memory://ckpt-{uuid.uuid4().hex}"
    (tmp_path / "in").mkdir()
    ssc = file_graph(client, directory, tmp_path / "in")
    run_batches(ssc, 2)
    ssc.stop(stop_client=False)
    try:
        files = checkpoint_files(directory)
        assert files and all(f.startswith("memory://") for f in files)
        assert read_latest(directory).time_ms == 2000
    finally:
        fs, root = fsspec.core.url_to_fs(directory)
        fs.rm(root, recursive=True)


def _one_checkpoint(client, tmp_path, key=None):
    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    ssc = file_graph(client, tmp_path / "ckpt", src, key)
    run_batches(ssc, 2)
    ssc.stop(stop_client=False)
    return checkpoint_files(str(tmp_path / "ckpt"))


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(client, tmp_path, caplog):
    files = _one_checkpoint(client, tmp_path)
    with open(files[0], "r+b") as fh:
        data = fh.read()
        fh.seek(0)
        fh.write(data[: len(data) // 2])
        fh.truncate()
    state = read_latest(str(tmp_path / "ckpt"))
    assert state is not None and state.time_ms == 2000
    assert "truncated or corrupt" in caplog.text


def test_no_usable_checkpoint_is_a_typed_error(client, tmp_path):
    files = _one_checkpoint(client, tmp_path)
    for f in files:
        with open(f, "wb") as fh:
            fh.write(b"garbage")
    with pytest.raises(CheckpointUnreadableError, match=r"no usable checkpoint.*no readable header"):
        read_latest(str(tmp_path / "ckpt"))


def test_signed_checkpoints_refuse_a_wrong_key_before_unpickling(client, tmp_path):
    _one_checkpoint(client, tmp_path, key="secret")
    assert read_latest(str(tmp_path / "ckpt"), key="secret").time_ms == 2000
    with pytest.raises(CheckpointSignatureError, match="signature"):
        read_latest(str(tmp_path / "ckpt"), key="other")
    with pytest.raises(CheckpointSignatureError, match="signature"):
        read_latest(str(tmp_path / "ckpt"))


def test_another_dstreams_version_is_not_unpickled(client, tmp_path):
    files = _one_checkpoint(client, tmp_path)
    for f in files:
        with open(f, "rb") as fh:
            line, _, payload = fh.read().partition(b"\n")
        header = json.loads(line)
        header["dstreams"] = "0.0.1"
        with open(f, "wb") as fh:
            fh.write(json.dumps(header).encode() + b"\n" + payload)
    with pytest.raises(CheckpointVersionError, match=r"written by dstreams 0\.0\.1.*not unpickled.*snapshot"):
        read_latest(str(tmp_path / "ckpt"))


RELEASE = __import__("threading").Event()
DONE = []


def wait_then_record(t, rdd):
    RELEASE.wait(10)
    DONE.append(t.second)


def test_graceful_stop_runs_pending_batches_and_the_checkpoint_says_none_pending(client, tmp_path):
    import threading
    import time

    src = tmp_path / "in"
    src.mkdir()
    RELEASE.clear()
    DONE.clear()
    ssc = StreamingContext(client, 1, clock=ManualClock())
    ssc.checkpoint(str(tmp_path / "ckpt"))
    ssc.text_file_stream(str(src)).foreach_rdd(wait_then_record)
    ssc.start()
    ssc.clock.advance(3)  # three batches due; the first blocks
    deadline = time.monotonic() + 10
    while read_latest(str(tmp_path / "ckpt")) is None or read_latest(str(tmp_path / "ckpt")).time_ms != 3000:
        assert time.monotonic() < deadline, "batch 3 was not generated"
        time.sleep(0.01)
    assert read_latest(str(tmp_path / "ckpt")).pending_times == [1000, 2000, 3000]
    threading.Timer(0.2, RELEASE.set).start()
    ssc.stop(stop_client=False, graceful=True)
    assert DONE == [1, 2, 3]
    state = read_latest(str(tmp_path / "ckpt"))
    assert state.pending_times == [] and state.time_ms == 3000


def test_a_graph_that_cannot_be_checkpointed_is_refused_at_start(client, tmp_path):
    import threading

    lock = threading.Lock()
    ssc = StreamingContext(client, 1, clock=ManualClock())
    ssc.checkpoint(str(tmp_path))
    ssc.queue_stream([[1]]).foreach_rdd(lambda rdd: (lock, rdd))  # on the driver: only the checkpoint pickles it
    with pytest.raises(ValueError, match=r"stream 'foreach-1' \(foreach_rdd at .*test_checkpoint\.py:\d+\) cannot "
                       r"be written to a checkpoint: the function .*<lambda> \(.*test_checkpoint\.py:\d+\): "
                       r"the variable 'lock' it uses from its enclosing function \(a _thread\.lock\) cannot be "
                       r"pickled \(TypeError: cannot pickle '_thread\.lock' object\)"):
        ssc.start()
    ssc.stop(stop_client=False)


FAIL_ONCE = {"at": None}


def fail_once(t, rdd):
    if FAIL_ONCE["at"] == t.second:
        FAIL_ONCE["at"] = None
        raise RuntimeError("the driver dies in this batch")


def test_a_pending_file_batch_rereads_its_files_after_recovery(client, tmp_path):
    import os

    from dstreams import BatchFailedError

    src = tmp_path / "in"
    src.mkdir()
    SEEN.clear()
    ssc = file_graph(client, tmp_path / "ckpt", src)
    ssc.runtime.graph.streams[0].foreach_rdd(fail_once)
    ssc.start()
    (src / "a.txt").write_text("a\n")
    os.utime(src / "a.txt", (1.5, 1.5))
    FAIL_ONCE["at"] = 2
    with pytest.raises(BatchFailedError):
        run_batches(ssc, 2)
    ssc.stop(stop_client=False)
    recover_and_run_one(client, tmp_path / "ckpt", 2000)
    assert SEEN == [(1, []), (2, ["a"]), (2, ["a"]), (3, [])]


def recover_and_run_one(client, directory, now_ms):
    """Recover the context checkpointed in ``directory`` at ``now_ms``, run one batch, stop it."""
    recovered = StreamingContext.get_or_create(str(directory), lambda: pytest.fail("setup called"),
                                               client=client, clock=ManualClock(now_ms))
    run_batches(recovered, 1)
    recovered.stop(stop_client=False)
    return recovered


def add_counts(new, old):
    return sum(new) + (old or 0)


def test_every_kept_checkpoint_finds_its_data_checkpoints(client, tmp_path):
    """A data checkpoint that newer ones replaced is deleted only when no kept metadata checkpoint refers to
    it: recovery from any of them (the newest may be corrupt) reads files that exist."""
    from dstreams.checkpoint import read_file

    ssc = StreamingContext(client, 1, clock=ManualClock())
    ssc.checkpoint(str(tmp_path / "ckpt"))
    totals = []
    ssc.queue_stream([], default=[("k", 1)]).update_state_by_key(add_counts).checkpoint(2) \
        .foreach_rdd(lambda rdd: totals.append(rdd.collect()))
    run_batches(ssc, 16)
    ssc.stop(stop_client=False)
    assert totals[-1] == [("k", 16)]
    referenced = set()
    for path in checkpoint_files(str(tmp_path / "ckpt")):
        state = read_file(path)
        for stream in state.graph.streams:
            for t, (data_dir, n, _) in stream.data_checkpoints.items():
                referenced.add(data_dir)
                assert all((tmp_path / data_dir / f"part-{i:05d}").exists() for i in range(n)), (path, t)
    assert len(referenced) >= 2  # the kept checkpoints span more than one data checkpoint
    on_disk = list((tmp_path / "ckpt" / "data").glob("*/*"))
    assert len(on_disk) <= len(referenced) + 1  # and the older ones were deleted


CONTEXTS = []


def record_context(ssc, rdd):
    CONTEXTS.append((ssc, ssc.client))


def test_functions_referring_to_the_context_get_the_recovered_one(client, tmp_path):
    import functools

    src = tmp_path / "in"
    src.mkdir()
    ssc = StreamingContext(client, 1, clock=ManualClock())
    ssc.checkpoint(str(tmp_path / "ckpt"))
    ssc.text_file_stream(str(src)).foreach_rdd(functools.partial(record_context, ssc))
    run_batches(ssc, 1)
    ssc.stop(stop_client=False)
    recovered = recover_and_run_one(client, tmp_path / "ckpt", 1000)
    assert CONTEXTS[0] == (ssc, client)
    assert CONTEXTS[-1][0] is recovered and CONTEXTS[-1][1] is recovered.client


def test_a_context_sent_anywhere_but_a_checkpoint_is_refused(ssc):
    import pickle

    with pytest.raises(TypeError, match="a StreamingContext cannot be pickled.*driver-side code"):
        pickle.dumps(ssc)
