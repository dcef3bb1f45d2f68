"""Notebook support: reprs, batch_history(), status(), get_active(), and where a context's output goes in
a real Jupyter kernel."""
import operator
import subprocess
import sys
import textwrap
import threading
import time

import pandas as pd
import pytest

from dstreams import RDD, BatchInfo, OutputOperationInfo, StreamingContext
from dstreams.dashboard.html import status_line
from dstreams.dashboard.status import LiveStatus
from dstreams.dstream.transformed import UnionDStream
from dstreams.listener import HISTORY_COLUMNS, BatchHistory
from dstreams.testing import ManualClock, run_batches


def explode_on(word):
    def check(rdd):
        if word in rdd.collect():
            raise ValueError(f"{word} in the data")

    return check


def word_counts(ssc, batches):
    lines = ssc.queue_stream(batches)
    return lines.flat_map(str.split).map(lambda w: (w, 1)).reduce_by_key(operator.add)


def assert_one_line(text):
    assert isinstance(text, str) and text and "\n" not in text, text


def assert_html(obj, *expected):
    page = obj._repr_html_()
    assert isinstance(page, str) and page.strip().startswith("<"), page
    for want in expected:
        assert want in page, f"{want!r} not in {page}"
    return page


# -- reprs ------------------------------------------------------------------------------------------
def test_the_context_shows_its_state_page_batches_and_last_delays(ssc):
    assert_html(ssc, "initialized", "Batch interval", "1s", "0 completed, 0 failed", "Dask dashboard: http")
    counts = word_counts(ssc, [["a b", "a"], ["b"]])
    counts.foreach_rdd(lambda rdd: rdd.collect())
    run_batches(ssc, 2)
    page = assert_html(ssc, "active", "2 completed, 0 failed, 3 records", "Last batch", "scheduling 0.000 s",
                       "1 input, 1 output operation")
    assert ssc.runtime.dashboard_url and f'href="{ssc.runtime.dashboard_url}"' in page  # the Streaming page
    assert_one_line(repr(ssc))
    ssc.stop(stop_client=False)
    assert_html(ssc, "stopped", "2 completed")


def test_a_failed_context_shows_the_failure(ssc):
    ssc.queue_stream([["a"], ["boom"]]).foreach_rdd(explode_on("boom"))
    with pytest.raises(Exception, match="boom in the data"):
        run_batches(ssc, 2)
    assert_html(ssc, "failed", "1 completed, 1 failed", "Stopped by", "BatchFailedError", "boom in the data")
    info = ssc._history.last
    assert_one_line(repr(info))
    assert "failed: ValueError: boom in the data" in repr(info)
    assert_html(info, "failed", "ValueError: boom in the data", "(the function explode_on.&lt;locals&gt;.check at")


def test_reprs_after_stop_with_a_closed_client():
    ssc = StreamingContext(batch_interval=1, clock=ManualClock())  # owns its cluster: stop() closes it
    counts = word_counts(ssc, [["a b"]])
    counts.foreach_rdd(lambda rdd: rdd.collect())
    run_batches(ssc, 1)
    rdd = counts.generated[max(counts.generated)]
    ssc.stop()
    assert ssc.client.status == "closed"
    assert repr(ssc).startswith("<StreamingContext stopped, batch 1s")
    page = assert_html(ssc, "stopped", "1 completed", f"{ssc.runtime.dashboard_url} (gone: its cluster was closed)")
    assert "href" not in page  # no link to a page that is gone
    assert "Streaming page" not in status_line(ssc) and status_line(ssc).startswith("StreamingContext stopped")
    assert_one_line(repr(counts))
    assert_html(counts, "reduce-by-key", "Lineage", "queue")
    assert_one_line(repr(rdd))
    assert_html(rdd, rdd.name)
    assert ssc.batch_history()["records"].tolist() == [1]  # one line


def test_a_dstream_shows_its_lineage_sources_first(ssc):
    left = ssc.queue_stream([[1]]).named("numbers")
    right = ssc.queue_stream([[2]])
    joined = left.map(lambda x: (x, 1)).union(right.map(lambda x: (x, 2))).window(2, 1).checkpoint(2)
    page = assert_html(joined, "Lineage", "numbers", "queue", "union", "window", "Slide", "Checkpoint interval",
                       "2s", "Remember")
    rows = [page.index(name) for name in ("numbers", "map-", "union-", f"<b>{joined.name}</b>")]
    assert rows == sorted(rows), "sources first, the stream itself last"
    assert repr(joined) == f"<DStream '{joined.name}'>"


def test_an_rdd_shows_its_partitions_and_partitioner(ssc):
    rdd = ssc.parallelize(range(10), 3).map(lambda x: (x % 2, x)).reduce_by_key(operator.add, 2)
    assert_html(rdd, rdd.name, "Partitions", "<td>2</td>", "HashPartitioner(num_partitions=2)", "Persisted")
    assert repr(rdd) == f"RDD<{rdd.name}, npartitions=2>"
    assert_html(ssc.parallelize([1]), "Partitioner", "none")


def test_no_repr_raises_on_half_built_objects(ssc):
    context = StreamingContext.__new__(StreamingContext)
    with pytest.raises(TypeError, match="client must be"):
        context.__init__(42)  # fails in _connect, after some fields were set
    stream = ssc.queue_stream([[1]])
    union = UnionDStream.__new__(UnionDStream)
    with pytest.raises(TypeError, match="expected a DStream"):
        union.__init__([stream, 5])
    rdd = RDD.__new__(RDD)
    with pytest.raises(ValueError):
        rdd.__init__({}, "half", "many")  # int("many") fails after the graph and name were set
    for half in (context, StreamingContext.__new__(StreamingContext), union, rdd, RDD.__new__(RDD),
                 BatchInfo.__new__(BatchInfo), UnionDStream.__new__(UnionDStream)):
        assert_one_line(repr(half))
        assert isinstance(half._repr_html_(), str)
    assert repr(StreamingContext.__new__(StreamingContext)) == "<StreamingContext>"
    with pytest.raises(AttributeError, match="has no attribute 'offset_ranges'"):  # not a RecursionError
        getattr(RDD.__new__(RDD), "offset_ranges")  # noqa: B009


def test_a_batch_info_shows_its_output_operations():
    info = BatchInfo(2000, 2000, num_records=5, processing_start_time_ms=2010, processing_end_time_ms=2160)
    info.output_operations[0] = OutputOperationInfo(2000, 0, "foreach_rdd at save (app.py:3)", 2010, 2100)
    info.output_operations[1] = OutputOperationInfo(2000, 1, "pprint at show", 2100, 2160,
                                                    "KeyError: 'x'\nsecond line, in show (app.py:9)")
    text = repr(info)
    assert_one_line(text)
    assert "5 records, scheduling 0.010 s, processing 0.150 s, total 0.160 s" in text
    assert "failed: KeyError: 'x' second line" in text and "2 output operations" in text
    assert_html(info, "foreach_rdd at save (app.py:3)", "0.090 s", "ok", "KeyError: &#x27;x&#x27;", "failed")
    queued = BatchInfo(3000, 3000)
    assert "queued" in repr(queued) and "scheduling -" in repr(queued)


# -- batch_history ----------------------------------------------------------------------------------
def test_batch_history_is_a_frame_by_batch_time(ssc):
    empty = ssc.batch_history()
    assert list(empty.columns) == list(HISTORY_COLUMNS) and empty.empty and empty.index.name == "batch_time"
    ssc.queue_stream([["a", "b"], ["c"], [], ["boom"]]).foreach_rdd(explode_on("boom"))
    with pytest.raises(Exception, match="boom in the data"):
        run_batches(ssc, 4)
    frame = ssc.batch_history()
    assert list(frame.columns) == ["records", "scheduling_delay", "processing_time", "total_delay", "failed",
                                   "failure"]
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.name == "batch_time"
    assert frame.index.is_monotonic_increasing and len(frame) == 4
    assert frame["records"].tolist() == [2, 1, 0, 1]
    assert frame["failed"].tolist() == [False, False, False, True]
    assert frame["failure"].iloc[-1].startswith("ValueError: boom in the data")
    assert frame["failure"].iloc[:3].isna().all()
    assert str(frame["scheduling_delay"].dtype) == "float64" and (frame["total_delay"] >= 0).all()
    assert frame.index[0] == pd.Timestamp(BatchInfo(ssc.zero_time + 1000, 0).batch_time)
    assert ssc.batch_history(2)["records"].tolist() == [0, 1]
    assert len(ssc.batch_history(100)) == 4


@pytest.mark.parametrize("n,error,message", [
    (0, ValueError, "batch_history\\(\\): n must be at least 1"),
    ("5", TypeError, "batch_history\\(\\): n must be a positive integer or None"),
])
def test_batch_history_refuses_a_bad_count(ssc, n, error, message):
    with pytest.raises(error, match=message):
        ssc.batch_history(n)


def test_the_history_keeps_the_newest_batches_and_counts_all():
    history = BatchHistory(size=3)
    for i in range(5):
        info = BatchInfo(i * 1000, i * 1000, num_records=i, processing_start_time_ms=i * 1000,
                         processing_end_time_ms=i * 1000 + 5)
        if i == 1:
            info.output_operations[0] = OutputOperationInfo(i * 1000, 0, "op", failure_reason="ValueError: x")
        history.on_batch_completed(info)
    assert [b.batch_time_ms for b in history.recent()] == [2000, 3000, 4000]
    assert (history.completed, history.failed, history.records) == (4, 1, 9)  # batch 1 failed: its 1 record not
    assert history.to_frame()["processing_time"].tolist() == [0.005] * 3


# -- get_active / get_active_or_create ----------------------------------------------------------------
def test_get_active_is_the_newest_running_context(client, ssc):
    before = StreamingContext.get_active()  # None, unless another test left a context running
    ssc.queue_stream([[1]]).pprint()
    ssc.start()
    assert StreamingContext.get_active() is ssc
    other = StreamingContext(batch_interval=1, clock=ManualClock())  # its own cluster: both may run
    try:
        other.queue_stream([[2]]).pprint()
        other.start()
        assert StreamingContext.get_active() is other
        other.stop()
        assert StreamingContext.get_active() is ssc
    finally:
        other.stop()
    ssc.stop(stop_client=False)
    assert StreamingContext.get_active() is before


def test_get_active_or_create_returns_the_running_context_without_setup(client):
    calls = []

    def setup():
        calls.append(1)
        made = StreamingContext(client, 1, clock=ManualClock())
        made.queue_stream([[1], [2]]).pprint()
        return made

    first = StreamingContext.get_active_or_create(setup)
    assert calls == [1] and first.state.value == "initialized"
    try:
        run_batches(first, 1)
        again = StreamingContext.get_active_or_create(setup)  # the cell run a second time
        assert again is first and calls == [1]
    finally:
        first.stop(stop_client=False)
    fresh = StreamingContext.get_active_or_create(setup)
    assert fresh is not first and calls == [1, 1]
    fresh.stop(stop_client=False)


def test_get_active_or_create_recovers_from_a_directory(client, tmp_path):
    directory, source = str(tmp_path / "checkpoint"), tmp_path / "in"
    source.mkdir()

    def setup():
        made = StreamingContext(client, 1, clock=ManualClock())
        made.text_file_stream(str(source)).foreach_rdd(lambda rdd: rdd.count())
        return made

    made = StreamingContext.get_active_or_create(setup, directory, client)
    assert made.checkpoint_dir == directory and not made.recovered
    run_batches(made, 2)
    assert StreamingContext.get_active_or_create(setup, directory, client) is made
    made.stop(stop_client=False)
    recovered = StreamingContext.get_active_or_create(setup, directory, client, ManualClock())
    try:
        assert recovered.recovered and recovered is not made
    finally:
        recovered.stop(stop_client=False)


def test_get_active_or_create_says_the_argument_order(client, tmp_path):
    def setup():
        return StreamingContext(client, 1)

    with pytest.raises(TypeError, match=r"setup first and the checkpoint directory second: "
                                        r"get_active_or_create\(setup, '/tmp/x'\)"):
        StreamingContext.get_active_or_create("/tmp/x", setup)
    with pytest.raises(TypeError, match="setup\\(\\) must return a StreamingContext, got int"):
        StreamingContext.get_active_or_create(lambda: 3)
    with pytest.raises(TypeError, match="get_active_or_create\\(\\): setup must be a function"):
        StreamingContext.get_active_or_create(None)


# -- status -----------------------------------------------------------------------------------------
def test_status_outside_ipython_prints_one_line(ssc, capsys):
    ssc.queue_stream([["a b"], ["c"]]).foreach_rdd(lambda rdd: rdd.count())
    run_batches(ssc, 2)
    assert ssc.status() is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    assert out.startswith("StreamingContext active, batch 1s: 2 batches completed, 0 failed, 2 records; last batch ")
    assert f"Streaming page {ssc.runtime.dashboard_url}" in out


class Handle:
    """What LiveStatus needs of an IPython DisplayHandle: update(obj); it keeps what it was given."""

    def __init__(self):
        self.shown = []
        self.changed = threading.Condition()

    def update(self, obj):
        with self.changed:
            self.shown.append(obj._repr_html_())
            self.changed.notify_all()

    def wait_until(self, done, timeout=10.0):
        with self.changed:
            assert self.changed.wait_for(lambda: done(self.shown), timeout), self.shown[-1:]


def test_the_live_status_redraws_at_most_every_interval_and_last_on_stop(ssc):
    handle = Handle()
    live = LiveStatus(ssc, handle, every_s=0.3)
    ssc.runtime.bus.add(live)
    ssc.queue_stream([["a"]] * 6).foreach_rdd(lambda rdd: rdd.count())
    started = time.monotonic()
    run_batches(ssc, 6)
    # a change within 0.3 s of the last redraw is shown once the 0.3 s are up: the last batch too
    handle.wait_until(lambda shown: shown and "6 completed" in shown[-1])
    elapsed = time.monotonic() - started
    assert len(handle.shown) <= 2 + elapsed / 0.3, (len(handle.shown), elapsed)
    ssc.stop(stop_client=False)
    assert "stopped" in handle.shown[-1] and "6 completed" in handle.shown[-1]
    assert live not in ssc.runtime.bus.listeners
    count = len(handle.shown)
    live.changed()
    live.close()
    assert len(handle.shown) == count  # closed: no more redraws


# -- outside IPython nothing changes -----------------------------------------------------------------
def test_outside_a_kernel_nothing_is_routed_and_ipython_is_not_imported():
    code = textwrap.dedent("""
        import sys
        import dstreams
        from dstreams import notebook
        from dstreams.dashboard import status
        assert notebook.capture() is None and not status.in_kernel()
        assert "IPython" not in sys.modules, "dstreams imported IPython"
        from IPython.core.interactiveshell import InteractiveShell
        InteractiveShell.instance()  # a terminal-like IPython: no kernel, no cells to route to
        assert notebook.capture() is None and not status.in_kernel()
        seen = []
        thread = notebook.RoutedThread(lambda: seen.append(notebook.current()), "t")
        thread.start(); thread.join()
        assert thread.route is None and seen == [None]
        assert dstreams.StreamingContext.get_active() is None  # none started in this process
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


# -- in a real kernel -------------------------------------------------------------------------------
def test_output_goes_under_the_cell_that_started_the_context(tmp_path):
    from tests import notebooks

    nb = notebooks.new_notebook(
        """\
        import sys, dstreams
        from distributed import Client, LocalCluster
        from dstreams import StreamingContext
        from dstreams.testing import ManualClock, run_batches
        cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0")
        client = Client(cluster)
        print(dstreams.__file__)""",
        """\
        ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())
        stream = ssc.queue_stream([["a", "b"], ["c"], ["boom"]])
        stream.pprint()
        def explode(rdd):
            if "boom" in rdd.collect():
                raise ValueError("boom in the data")
        stream.foreach_rdd(explode)
        ssc.start()
        print("started")""",
        """\
        run_batches(ssc, 2)
        print("ran 2 batches")""",
        "live = ssc.status()\nlive",
        """\
        import time
        ssc.clock.advance(1)  # the third batch fails; nobody awaits it: it is logged under the starting cell
        deadline = time.monotonic() + 30
        while ssc.state.value != "stopped" and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            ssc.await_termination(10)
        except Exception as e:
            print("raised here:", type(e).__name__)""",
        """\
        print(ssc.state.value, live)
        client.close()
        cluster.close()""",
    )
    for cell in nb.cells:
        cell.source = textwrap.dedent(cell.source)
    client = notebooks.run(nb, tmp_path, timeout=60)
    setup, start, run_two, status, fail, end = client.nb.cells
    assert notebooks.stream_text(setup, "stdout").strip().startswith(str(notebooks.REPO / "dstreams"))
    started = notebooks.stream_text(start, "stdout")
    assert started.startswith("started\n")
    for record in ("\na\nb\n", "\nc\n", "\nboom\n"):  # every batch's pprint, under the starting cell
        assert record in started, started
    assert started.count("Time: 1970-01-01") == 3
    failure = notebooks.stream_text(start, "stderr")
    assert "dstreams: batch 1970-01-01 00:00:03 (3000 ms) failed" in failure and "boom in the data" in failure
    assert notebooks.text_of(run_two).strip() == "ran 2 batches"  # nothing else: no pprint here
    assert notebooks.text_of(fail).strip() == "raised here: BatchFailedError"
    shown = notebooks.text_of(status)  # one display, updated in place to the final state
    assert len(status.outputs) == 1 and status.outputs[0]["output_type"] == "display_data"
    assert "failed" in shown and "2 completed, 1 failed" in shown and "<StreamingContext stopped" in shown
    updates = [m for m in client.messages if m["msg_type"] == "update_display_data"]
    assert 1 <= len(updates) <= 4, len(updates)  # a batch, the stop; throttled to 2 a second
    assert notebooks.text_of(end).startswith("stopped <LiveStatus closed")
