"""Kill the worker process that runs the receivers: they come back elsewhere, replicated blocks survive."""
from __future__ import annotations

import os
import signal

from distributed import Client, LocalCluster

from dstreams import StreamingContext
from dstreams.sources.receiver import SocketReceiver
from dstreams.testing import ManualClock, run_batches

from .support import Events, LineServer, wait_until


def test_receivers_restart_on_a_live_worker_and_replicated_blocks_survive():
    # 3 threads a worker: with both receivers on one, a thread stays free there, so blocks are kept there
    with LocalCluster(n_workers=2, threads_per_worker=3, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2)
        victim = sorted(client.nthreads())[0]
        servers = {"replicated": LineServer(), "single": LineServer()}
        ssc = StreamingContext(client, 1, clock=ManualClock())
        events = Events()
        ssc.add_listener(events)
        out: dict = {"replicated": [], "single": []}
        streams = {}
        for label, server in servers.items():
            receiver = SocketReceiver("127.0.0.1", server.port)
            receiver.preferred_worker = victim  # both on the worker about to die
            streams[label] = ssc.receiver_stream(receiver, block_interval=0.05, restart_delay=0.2,
                                                 replicate=label == "replicated")
            streams[label].foreach_rdd(lambda rdd, label=label: out[label].append(sorted(rdd.collect())))
        try:
            ssc.start()
            tracker = ssc.runtime.receiver_tracker

            def received(label):
                return tracker.num_records_received(streams[label].id)

            for label, server in servers.items():
                server.wait_for_connections(1, timeout=30)
                server.send([f"before-{i}" for i in range(50)])
                wait_until(lambda label=label: received(label) == 50, what=f"50 records on {label}")
            assert {tracker.receiver_info(s.id).worker for s in streams.values()} == {victim}

            pid = client.run(os.getpid, workers=[victim])[victim]
            os.kill(pid, signal.SIGKILL)
            # the nanny starts a new worker process, under a new address
            wait_until(lambda: victim not in client.nthreads() and len(client.nthreads()) == 2, timeout=30,
                       what="the dead worker replaced")

            def restarted(label):
                info = tracker.receiver_info(streams[label].id)
                return info if info.active and info.attempt == 2 else None

            for label, server in servers.items():
                info = wait_until(lambda label=label: restarted(label), timeout=30, what=f"{label} receiver restarted")
                assert info.worker != victim and info.worker in client.nthreads()
                assert info.restarts == 1
                server.wait_for_connections(2, timeout=30)
                server.send([f"after-{i}" for i in range(50)])
                wait_until(lambda label=label: received(label) == 100, what=f"100 records on {label}")
            assert any("died" in e.last_error_message for e in events.errors)

            run_batches(ssc, 1, timeout=60)
            before = sorted(f"before-{i}" for i in range(50))
            after = sorted(f"after-{i}" for i in range(50))
            assert out["replicated"] == [sorted(before + after)]  # the replicas of the first blocks served
            assert out["single"] == [after]  # without replicas the blocks died with their worker ...
            assert any("were lost" in e.last_error_message for e in events.errors)  # ... and it was said

            servers["replicated"].send(["later"])  # the stream goes on
            wait_until(lambda: received("replicated") == 101, what="one more record")
            run_batches(ssc, 1, timeout=60)
            assert out["replicated"][-1] == ["later"]
        finally:
            ssc.stop(stop_client=False)
            for server in servers.values():
                server.close()
