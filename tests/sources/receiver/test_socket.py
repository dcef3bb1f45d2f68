"""socket_text_stream: exact counts, text decoding, blocks as partitions, windows, release of blocks."""
from __future__ import annotations

import pytest

from dstreams.sources.receiver import SocketReceiver
from dstreams.testing import run_batches

from .support import Events, LineServer, wait_until


@pytest.fixture
def server():
    s = LineServer()
    yield s
    s.close()


def block_keys(client):
    return [k for k in client.who_has() if str(k).startswith("rblock-")]


def test_every_line_sent_is_counted_exactly_once(ssc, server):
    events = Events()
    ssc.add_listener(events)
    out = []
    lines = ssc.socket_text_stream("127.0.0.1", server.port)
    lines.foreach_rdd(lambda rdd: out.append(rdd.collect()))
    ssc.start()
    server.wait_for_connections(1)
    n = 2000
    server.send([f"line {i}" for i in range(n)])
    tracker = ssc.runtime.receiver_tracker
    wait_until(lambda: tracker.num_records_received(lines.id) == n, what=f"{n} records at the driver")
    run_batches(ssc, 2)
    assert sorted(out[0]) == sorted(f"line {i}" for i in range(n))
    assert out[1] == []
    assert [info.attempt for info in events.started] == [1]
    assert events.started[0].worker in ssc.client.nthreads()
    assert events.errors == []


def test_lines_are_utf8_without_line_ends(ssc, server):
    out = []
    lines = ssc.socket_text_stream("127.0.0.1", server.port, block_interval=0.05)
    lines.foreach_rdd(lambda rdd: out.extend(rdd.collect()))
    ssc.start()
    server.wait_for_connections(1)
    server.send(None, raw="héllo wörld\r\n日本語\n\nbad \xff byte\n".encode() + b"\xff\xfe\n")
    wait_until(lambda: ssc.runtime.receiver_tracker.num_records_received(lines.id) == 5, what="5 lines")
    run_batches(ssc, 1)
    assert sorted(out) == sorted(["héllo wörld", "日本語", "", "bad \xff byte", "\ufffd\ufffd"])


def test_each_block_is_one_partition_and_batches_split_by_arrival(ssc, server):
    parts, counts = [], []
    lines = ssc.socket_text_stream("127.0.0.1", server.port, block_interval=0.05)
    lines.foreach_rdd(lambda rdd: parts.append(rdd.npartitions))
    lines.count().foreach_rdd(lambda rdd: counts.append(rdd.collect()[0]))
    ssc.start()
    server.wait_for_connections(1)
    tracker = ssc.runtime.receiver_tracker
    for i in range(3):  # three separate sends, each waited for: at least three blocks
        server.send([f"a{i}"])
        wait_until(lambda i=i: tracker.num_records_received(lines.id) == i + 1, what=f"record {i}")
    run_batches(ssc, 1)
    server.send(["b0", "b1"])
    wait_until(lambda: tracker.num_records_received(lines.id) == 5, what="5 records")
    run_batches(ssc, 1)
    assert counts == [3, 2]
    assert parts[0] == 3 and 1 <= parts[1] <= 2


def test_window_keeps_the_blocks_it_needs_and_blocks_are_released(client, ssc, server):
    out = []
    lines = ssc.socket_text_stream("127.0.0.1", server.port, block_interval=0.05)
    lines.window(2).foreach_rdd(lambda rdd: out.append(sorted(rdd.collect())))
    ssc.start()
    server.wait_for_connections(1)
    tracker = ssc.runtime.receiver_tracker
    for i, batch in enumerate([["a"], ["b"], ["c"], []]):
        server.send(batch)
        wait_until(lambda i=i: tracker.num_records_received(lines.id) == min(i + 1, 3), what="the batch's lines")
        run_batches(ssc, 1)
    assert out == [["a"], ["a", "b"], ["b", "c"], ["c"]]
    # the block of batch 1 ("a") left every window (and the stream's remember duration): released
    first = f"rblock-{lines.id}-{ssc.run_id}-1-0"
    wait_until(lambda: first not in block_keys(client) and len(block_keys(client)) == 4,
               what="the first block (and its replica) to be released")
    ssc.stop(stop_client=False)
    wait_until(lambda: block_keys(client) == [], what="every block released after stop")


def test_unreachable_server_restarts_the_receiver_and_reports_it(ssc):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    events = Events()
    ssc.add_listener(events)
    ssc.socket_text_stream("127.0.0.1", port, restart_delay=0.05).pprint()
    ssc.start()
    wait_until(lambda: len(events.errors) >= 2, what="two connection errors")
    assert f"error connecting to 127.0.0.1:{port}" in events.errors[0].last_error_message
    assert "ConnectionRefusedError" in events.errors[0].last_error
    wait_until(lambda: ssc.runtime.receiver_tracker.receiver_info(0).restarts >= 2, what="restarts")


def test_socket_receiver_checks_its_arguments():
    with pytest.raises(ValueError, match="port must be an integer in 1..65535, got '99'"):
        SocketReceiver("localhost", "99")
    with pytest.raises(LookupError):
        SocketReceiver("localhost", 99, encoding="no-such-codec")
