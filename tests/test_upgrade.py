"""A new version of an application resumes the sources and state of the old one from the snapshot."""
import json
import operator
import os

import msgpack
import pytest

import dstreams
from dstreams import StateSpec, StreamingContext
from dstreams.checkpoint import CheckpointError
from dstreams.testing import ManualClock, run_batches


def add_counts(new, old):
    return sum(new) + (old or 0)


def add_counts_v2(new, old):  # the new version's function: same totals, written differently
    total = old if old is not None else 0
    for n in new:
        total += n
    return total


def track(key, value, state):
    state.update((state.get() if state.exists() else 0) + value)
    return key


def track_v2(key, value, state):
    state.update(value + (state.get() if state.exists() else 0))
    return key


def stateful(op, pairs, version):
    """``(the stateful stream to name and checkpoint, the stream whose (key, value) records are output)``."""
    if op == "update-state-by-key":
        totals = pairs.update_state_by_key(add_counts if version == 1 else add_counts_v2)
        return totals, totals
    if op == "map-with-state":
        mapped = pairs.map_with_state(StateSpec.function(track if version == 1 else track_v2))
        return mapped, mapped.state_snapshots()
    assert op == "inverse-window"
    inverse = operator.sub if version == 1 else (lambda a, b: a + -b)
    totals = pairs.reduce_by_key_and_window(operator.add, inverse, 3, 1, filter_func=lambda kv: kv[1] > 0)
    return totals, totals


def app(client, ckpt, src, out, version=1, named=True, clock_ms=0, op="update-state-by-key"):
    """The application: word totals over the files of ``src``, kept by ``op``; version 2 changes a
    function and adds an operator before the state."""
    def setup():
        ssc = StreamingContext(client, 1, clock=ManualClock(clock_ms))
        ssc.checkpoint(str(ckpt))
        lines = ssc.text_file_stream(str(src))
        words = lines.flat_map(str.split)
        if version == 2:
            words = words.filter(lambda w: w != "")  # one more operator
        totals, output = stateful(op, words.map(lambda w: (w, 1)), version)
        totals.checkpoint(2)
        if named:
            lines.named("lines")
            totals.named("totals")
        output.foreach_rdd(lambda t, rdd: out.append((t.second, dict(rdd.collect()))))
        return ssc

    return setup


def put(src, name, text, at_s):
    path = src / name
    path.write_text(text)
    os.utime(path, (at_s, at_s))  # it belongs to the batch after at_s


@pytest.fixture
def dirs(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    return tmp_path / "ckpt", src


def run_v1(client, dirs, named=True):
    ckpt, src = dirs
    out = []
    ssc = StreamingContext.get_or_create(str(ckpt), app(client, ckpt, src, out, named=named), client=client)
    put(src, "a.txt", "a b", 0.5)
    put(src, "b.txt", "b c", 2.5)
    put(src, "c.txt", "c c", 4.5)
    run_batches(ssc, 5)
    ssc.stop(stop_client=False)  # the driver goes away after batch 5; the last data checkpoint is of batch 4
    assert out[-1] == (5, {"a": 1, "b": 2, "c": 3})
    return out


def test_a_new_version_goes_on_with_the_state_and_the_input_position(client, dirs, monkeypatch):
    ckpt, src = dirs
    run_v1(client, dirs)
    for done in ("a.txt", "b.txt"):  # read by batches before the state's data checkpoint: not needed again
        (src / done).unlink()
    monkeypatch.setattr(dstreams, "__version__", "99.0")  # the pickled graph is then not loaded
    out = []
    ssc = StreamingContext.get_or_create(str(ckpt), app(client, ckpt, src, out, version=2, clock_ms=5000),
                                         client=client)
    try:
        assert ssc.restored_streams == {"lines": "restored", "totals": "restored"}
        put(src, "d.txt", "a d", 5.5)
        run_batches(ssc, 2)
    finally:
        ssc.stop(stop_client=False)
    # batch 5 runs again from the state of batch 4 on the files batch 5 took; no file is read twice
    assert out == [(5, {"a": 1, "b": 2, "c": 3}), (6, {"a": 2, "b": 2, "c": 3, "d": 1}),
                   (7, {"a": 2, "b": 2, "c": 3, "d": 1})]


@pytest.mark.parametrize("op", ["map-with-state", "inverse-window"])
def test_every_kind_of_state_goes_on_in_a_new_version(client, dirs, monkeypatch, tmp_path, op):
    """The state of map_with_state and of a window reduced with an inverse function resumes in a new
    version exactly where an application that never stopped would be."""
    ckpt, src = dirs
    files = [("a.txt", "a b", 0.5), ("b.txt", "b c", 2.5), ("c.txt", "c c", 4.5), ("d.txt", "a d", 5.5)]

    def run(directory, setup, batches, upgrade=False):
        ssc = StreamingContext.get_or_create(str(directory), setup, client=client, upgrade=upgrade)
        try:
            run_batches(ssc, batches)
        finally:
            ssc.stop(stop_client=False)
        return ssc

    for name, text, at in files:
        put(src, name, text, at)
    reference = []
    run(tmp_path / "reference", app(client, tmp_path / "reference", src, reference, op=op), 7)
    for f in src.iterdir():
        f.unlink()
    out = []
    for name, text, at in files[:3]:
        put(src, name, text, at)
    run(ckpt, app(client, ckpt, src, out, op=op), 5)
    (src / "a.txt").unlink()  # only batch 1 read it: its words are in the saved state, never read again
    monkeypatch.setattr(dstreams, "__version__", "99.0")  # the pickled graph is then not loaded
    put(src, *files[3])
    ssc = run(ckpt, app(client, ckpt, src, out, version=2, clock_ms=5000, op=op), 2)
    assert set(ssc.restored_streams.values()) == {"restored"}, ssc.restored_streams
    assert reference[-1][1]  # the state is not empty at the end
    assert out == reference[:5] + reference[4:]  # batch 5 ran again, from the state of batch 4


def test_upgrade_true_resumes_from_the_snapshot_even_when_the_graph_could_be_loaded(client, dirs):
    ckpt, src = dirs
    run_v1(client, dirs)
    out = []
    ssc = StreamingContext.get_or_create(str(ckpt), app(client, ckpt, src, out, version=2, clock_ms=5000),
                                         client=client, upgrade=True)
    try:
        run_batches(ssc, 1)
    finally:
        ssc.stop(stop_client=False)
    assert ssc.recovered and out == [(5, {"a": 1, "b": 2, "c": 3}), (6, {"a": 1, "b": 2, "c": 3})]


def test_an_unchanged_graph_without_names_is_matched_by_its_place(client, dirs):
    ckpt, src = dirs
    run_v1(client, dirs, named=False)
    out = []
    ssc = StreamingContext.get_or_create(str(ckpt), app(client, ckpt, src, out, named=False, clock_ms=5000),
                                         client=client, upgrade=True)
    try:
        run_batches(ssc, 1)
    finally:
        ssc.stop(stop_client=False)
    assert set(ssc.restored_streams.values()) == {"restored"}
    assert out[-1] == (6, {"a": 1, "b": 2, "c": 3})


def test_a_changed_graph_without_names_is_refused_naming_the_checkpoints_streams(client, dirs):
    ckpt, src = dirs
    run_v1(client, dirs, named=False)
    with pytest.raises(CheckpointError, match=r"the graph changed and its streams 'update-state-by-key-4' have no "
                                              r"name.*The checkpoint holds 'update-state-by-key-3' "
                                              r"\(update-state-by-key\).*stream\.named\('update-state-by-key-3'\)"):
        StreamingContext.get_or_create(str(ckpt), app(client, ckpt, src, [], version=2, named=False), client=client,
                                       upgrade=True)


def test_new_and_dropped_streams_are_reported(client, dirs):
    ckpt, src = dirs
    run_v1(client, dirs)

    def setup():
        ssc = StreamingContext(client, 1, clock=ManualClock(5000))
        ssc.checkpoint(str(ckpt))
        ssc.text_file_stream(str(src)).named("lines").map(lambda w: (w, 1)) \
            .update_state_by_key(add_counts).named("new-totals").pprint()
        return ssc

    ssc = StreamingContext.get_or_create(str(ckpt), setup, client=client, upgrade=True)
    ssc.stop(stop_client=False)
    assert ssc.restored_streams == {"lines": "restored", "new-totals": "not found", "totals": "not used"}


def test_the_snapshot_is_plain_json_with_positions_and_state(client, dirs):
    ckpt, _ = dirs
    run_v1(client, dirs)
    newest = sorted(ckpt.glob("snapshot-*.json"))[-1]
    snap = json.loads(newest.read_text())
    assert snap["streams"]["totals"] == {"op": "update-state-by-key",
                                         "lineage": "update-state-by-key(map(flat-map(text-file)))", "named": True}
    assert set(snap["state"]["totals"]["checkpoints"]) == {"4000"}
    assert snap["sources"]["lines"]["files_by_batch"]["5000"][0].endswith("c.txt")
    # the state is data: record files whose records are read back without pickle (no code)
    saved = snap["state"]["totals"]["checkpoints"]["4000"]
    state = {}
    for i in range(saved["npartitions"]):
        data = open(f"{saved['path']}/part-{i:05d}", "rb").read()
        header, body = data.split(b"\n", 1)
        assert header == b"dstreams-records 1 msgpack"
        state.update(msgpack.unpackb(body, ext_hook=lambda code, d: tuple(msgpack.unpackb(d)) if code == 1 else d))
    assert state == {"a": 1, "b": 2, "c": 1}  # the totals after batch 4


def test_a_signed_snapshot_needs_its_key(client, dirs, monkeypatch):
    ckpt, src = dirs
    out = []
    ssc = StreamingContext.get_or_create(str(ckpt), app(client, ckpt, src, out), client=client,
                                         checkpoint_key="k1")
    run_batches(ssc, 2)
    ssc.stop(stop_client=False)
    with pytest.raises(CheckpointError, match="signature"):
        StreamingContext.get_or_create(str(ckpt), app(client, ckpt, src, out), client=client, checkpoint_key="k2",
                                       upgrade=True)


@pytest.mark.parametrize("name", ["", "a/b", "x" * 81, 3, "with space"])
def test_bad_names_are_refused(ssc, name):
    with pytest.raises(ValueError, match="named"):
        ssc.queue_stream([]).named(name)


def test_a_name_is_unique_in_a_context(ssc):
    ssc.queue_stream([]).named("events")
    with pytest.raises(ValueError, match="'events' is taken"):
        ssc.queue_stream([]).named("events")
