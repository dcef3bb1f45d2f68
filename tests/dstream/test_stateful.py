"""update_state_by_key and map_with_state (Spark's stateful operation cases)."""
import pytest

from dstreams import StateSpec
from tests.helpers import check_operation

WORDS = [["a"], ["a", "b"], [], ["b", "c"]]


def running_count(values, state):
    return sum(values) + (state or 0)


def test_update_state_by_key_running_count(client, tmp_path):
    check_operation(client, WORDS, lambda s: s.map(lambda w: (w, 1)).update_state_by_key(running_count),
                    [[("a", 1)], [("a", 2), ("b", 1)], [("a", 2), ("b", 1)], [("a", 2), ("b", 2), ("c", 1)]],
                    checkpoint_dir=tmp_path)


def test_update_state_by_key_removes_keys_returning_none(client, tmp_path):
    def count_until_two(values, state):
        total = sum(values) + (state or 0)
        return None if total >= 2 else total

    check_operation(client, WORDS, lambda s: s.map(lambda w: (w, 1)).update_state_by_key(count_until_two),
                    [[("a", 1)], [("b", 1)], [("b", 1)], [("c", 1)]], checkpoint_dir=tmp_path)


def test_update_state_by_key_sees_every_key_every_batch(client, tmp_path):
    """As in Spark, the function is called for every key in the state, with [] when no new value came."""
    def seen(values, state):
        return (state or ()) + (len(values),)

    check_operation(client, [["a"], []], lambda s: s.map(lambda w: (w, 1)).update_state_by_key(seen),
                    [[("a", (1,))], [("a", (1, 0))]], checkpoint_dir=tmp_path)


def test_update_state_by_key_with_initial_state_and_partitions(client, ssc, tmp_path):
    initial = ssc.parallelize([("a", 10), ("z", 5)])
    check_operation(client, WORDS[:2],
                    lambda s: s.map(lambda w: (w, 1)).update_state_by_key(running_count, 3, initial),
                    [[("a", 11), ("z", 5)], [("a", 12), ("b", 1), ("z", 5)]], checkpoint_dir=tmp_path)


def test_update_state_by_key_takes_its_initial_state_as_a_list(client, tmp_path):
    """As PySpark, which parallelizes an initialRDD that is not an RDD."""
    check_operation(client, WORDS[:2],
                    lambda s: s.map(lambda w: (w, 1)).update_state_by_key(running_count, initial_rdd=[("b", 7)]),
                    [[("a", 1), ("b", 7)], [("a", 2), ("b", 8)]], checkpoint_dir=tmp_path)


def test_update_state_by_key_needs_a_checkpoint_directory(ssc):
    ssc.queue_stream([]).map(lambda w: (w, 1)).update_state_by_key(running_count).pprint()
    with pytest.raises(ValueError,
                       match=r"stream 'update-state-by-key-\d+' .* needs a checkpoint directory.*ssc\.checkpoint"):
        ssc.start()


def track(key, value, state):
    total = (state.get() if state.exists() else 0) + (value or 0)
    if state.is_timing_out():
        return (key, "timed out", total)
    if total >= 3:
        state.remove()
        return (key, "removed", total)
    state.update(total)
    return (key, total)


def test_map_with_state_maps_and_removes(client, tmp_path):
    check_operation(client, [[("a", 1)], [("a", 1), ("b", 5)], [("a", 1)], [("a", 1)]],
                    lambda s: s.map_with_state(StateSpec.function(track)),
                    [[("a", 1)], [("a", 2), ("b", "removed", 5)], [("a", "removed", 3)], [("a", 1)]],
                    checkpoint_dir=tmp_path)


def test_map_with_state_snapshots(client, tmp_path):
    check_operation(client, [[("a", 1)], [("a", 1), ("b", 1)], [("a", 1)], []],
                    lambda s: s.map_with_state(StateSpec.function(track)).state_snapshots(),
                    [[("a", 1)], [("a", 2), ("b", 1)], [("b", 1)], [("b", 1)]],
                    checkpoint_dir=tmp_path)


def test_map_with_state_timeout_calls_once_then_removes(client, tmp_path):
    spec = StateSpec.function(track).timeout(2)
    check_operation(client, [[("a", 1)], [], [], [], [("a", 1)]],
                    lambda s: s.map_with_state(spec),
                    # idle since t=1: at t=4 it is older than the 2 s timeout
                    [[("a", 1)], [], [], [("a", "timed out", 1)], [("a", 1)]],
                    checkpoint_dir=tmp_path)


def test_map_with_state_initial_state(client, ssc, tmp_path):
    spec = StateSpec.function(track).initial_state(ssc.parallelize([("a", 1)])).num_partitions(2)
    check_operation(client, [[("a", 1)], [("b", 1)]],
                    lambda s: s.map_with_state(spec).state_snapshots(),
                    [[("a", 2)], [("a", 2), ("b", 1)]], checkpoint_dir=tmp_path)


def test_map_with_state_needs_a_state_spec(ssc):
    with pytest.raises(TypeError, match="needs a StateSpec.*StateSpec.function"):
        ssc.queue_stream([]).map_with_state(track)


def _scheduler_tasks(dask_scheduler):
    return len(dask_scheduler.tasks)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("client", ["in-process"], indirect=True)  # about lineage; 400 batches
def test_state_lineage_does_not_grow_over_400_batches(client, tmp_path):
    """Persisted state and data checkpoints keep both a batch's graph and the scheduler's task count as
    small after 400 batches as after 20."""
    from dstreams import StreamingContext
    from dstreams.testing import ManualClock, run_batches

    ssc = StreamingContext(client, 1, clock=ManualClock())
    ssc.checkpoint(str(tmp_path))
    seen = {}

    def measure(t, rdd):
        n = int(t.timestamp())
        if n in (20, 400):
            seen[n] = (len(rdd.map(str).__dask_graph__()), client.run_on_scheduler(_scheduler_tasks),
                       rdd.collect())

    ssc.queue_stream([], default=[("k", 1)]).update_state_by_key(running_count).foreach_rdd(measure)
    run_batches(ssc, 400, timeout=60)
    ssc.stop(stop_client=False)
    assert seen[400][2] == [("k", 400)]
    assert seen[400][0] == seen[20][0]  # the graph of a batch
    # what the scheduler keeps: a growing lineage would hold thousands of tasks by now (several per batch);
    # a little slack for other work on the shared test cluster
    assert seen[400][1] <= seen[20][1] + 100

def test_map_with_state_timeout_counts_from_the_last_record_not_the_last_update(client, tmp_path):
    def first_only(key, value, state):
        if state.is_timing_out():
            return (key, "timed out")
        if not state.exists():
            state.update(value)
        return (key, state.get())

    spec = StateSpec.function(first_only).timeout(2)
    check_operation(client, [[("a", 1)], [("a", 2)], [("a", 3)], [], [], []],
                    lambda s: s.map_with_state(spec),
                    [[("a", 1)], [("a", 1)], [("a", 1)], [], [], [("a", "timed out")]],
                    checkpoint_dir=tmp_path)


def test_state_stays_hash_partitioned(client, tmp_path):
    """The state keeps its partitioner, so cogroup shuffles only each batch's new records (see test_rdd)."""
    from dstreams import StreamingContext
    from dstreams.shuffle import HashPartitioner
    from dstreams.testing import ManualClock, run_batches

    ssc = StreamingContext(client, 1, clock=ManualClock())
    ssc.checkpoint(str(tmp_path))
    partitioners = []
    ssc.queue_stream([[("a", 1)], [("b", 1)], [("a", 1)]]).update_state_by_key(running_count, 2) \
        .foreach_rdd(lambda rdd: partitioners.append(rdd.partitioner))
    run_batches(ssc, 3)
    ssc.stop(stop_client=False)
    assert partitioners == [HashPartitioner(2)] * 3


def test_dask_compute_of_a_persisted_batch_uses_the_context_cluster(ssc, tmp_path):
    """Works without a default client: the RDD computes on the client it was made on."""
    import dask

    from dstreams.testing import run_batches

    out = []
    ssc.queue_stream([[1, 2], [3]]).window(2).foreach_rdd(lambda rdd: out.append(sorted(dask.compute(rdd)[0])))
    run_batches(ssc, 2)
    assert out == [[1, 2], [1, 2, 3]]
