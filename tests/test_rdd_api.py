"""The RDD API beyond the basics, where one cluster is enough: empty RDDs, large sorts, sampling's
statistics, pickle files and checkpoints (the per-batch tables are in tests/dstream/test_rdd_api.py)."""
import math
import operator
import pickle
import random
import statistics

import pytest

from dstreams import RDD, StatCounter, StreamingContext
from dstreams.testing import ManualClock


def test_empty_rdds_answer_as_in_spark(client):
    empty = RDD.empty(client)
    assert empty.sum() == 0 and empty.mean() == 0.0 and empty.top(3) == [] and empty.take_ordered(1) == []
    s = empty.stats()
    assert (s.count(), s.sum(), s.max(), s.min()) == (0, 0.0, -math.inf, math.inf)
    assert math.isnan(s.variance()) and math.isnan(s.sample_stdev())
    assert empty.sort_by_key().collect() == [] and empty.zip_with_index().collect() == []
    assert empty.aggregate(0, operator.add, operator.add) == 0 and list(empty.to_local_iterator()) == []
    for action, message in ((empty.max, r"max\(\) of an empty RDD"), (empty.min, r"min\(\) of an empty RDD"),
                            (lambda: empty.tree_reduce(operator.add), r"cannot tree_reduce\(\) an empty RDD")):
        with pytest.raises(ValueError, match=message):
            action()


def test_stat_counters_merge_as_one_pass_over_all_values():
    rng = random.Random(3)
    values = [rng.uniform(-50, 50) for _ in range(7)] + [1e6, 2.5]
    merged = StatCounter(values[:3]).merge_stats(StatCounter()).merge_stats(StatCounter(values[3:]))
    assert merged.count() == len(values) and merged.max() == max(values) and merged.min() == min(values)
    assert merged.mean() == pytest.approx(statistics.fmean(values))
    assert merged.variance() == pytest.approx(statistics.pvariance(values))
    assert merged.sample_stdev() == pytest.approx(statistics.stdev(values))
    assert StatCounter().merge_stats(merged).sum() == pytest.approx(sum(values))
    with pytest.raises(TypeError, match=r"merge_stats\(\) needs a StatCounter, got int; use merge\(value\)"):
        merged.merge_stats(3)


def test_a_large_sort_cuts_even_ranges(client):
    """Sampled bounds: each output partition gets a similar share, and partition i's keys precede i + 1's."""
    rng = random.Random(5)
    data = [rng.randrange(10**6) for _ in range(4000)]
    parts = RDD.from_list(data, 5, client=client).sort_by(lambda x: x, num_partitions=4).glom().collect()
    assert [x for p in parts for x in p] == sorted(data)
    assert all(600 < len(p) < 1400 for p in parts), [len(p) for p in parts]
    skewed = RDD.from_list([0] * 3000 + list(range(1000)), 4, client=client).sort_by(lambda x: x, False, 3)
    assert skewed.collect() == sorted([0] * 3000 + list(range(1000)), reverse=True)


def test_sample_fraction_means_what_spark_says(client):
    rdd = RDD.from_list(range(20_000), 4, client=client)
    kept = rdd.sample(False, 0.3, seed=1).collect()
    assert kept == sorted(set(kept)) and abs(len(kept) - 6000) < 5 * math.sqrt(20_000 * 0.3 * 0.7)
    drawn = rdd.sample(True, 2.0, seed=1).collect()
    assert abs(len(drawn) - 40_000) < 5 * math.sqrt(40_000) and max(drawn.count(x) for x in range(50)) > 2
    assert rdd.sample(False, 0.3, seed=2).collect() != kept
    unseeded = rdd.sample(False, 0.1)
    assert unseeded.collect() == unseeded.collect()  # the seed is drawn once, when the sample is made
    with pytest.raises(ValueError, match=r"fraction 1.5 is over 1 without replacement.*with_replacement=True"):
        rdd.sample(False, 1.5)


def test_save_as_pickle_file_writes_a_list_per_partition(client, tmp_path):
    records = [{"a": 1}, (2, "x"), None, b"\x00"]
    written = RDD.from_list(records, 2, client=client).save_as_pickle_file(str(tmp_path / "out"))
    assert written == [str(tmp_path / "out" / f"part-0000{i}") for i in range(2)]
    assert (tmp_path / "out" / "_SUCCESS").exists()
    parts = [pickle.loads((tmp_path / "out" / f"part-0000{i}").read_bytes()) for i in range(2)]
    assert parts == [records[:2], records[2:]] and type(parts[0]) is list


def test_checkpoint_writes_under_the_context_directory_and_cuts_the_lineage(client, tmp_path):
    ssc = StreamingContext(client, batch_interval=1, clock=ManualClock())
    try:
        source = ssc.parallelize(range(6), 2).map(lambda x: x * 10)
        with pytest.raises(ValueError, match=r"checkpoint\(\): .* has no checkpoint directory.*ssc\.checkpoint"):
            source.checkpoint()
        ssc.checkpoint(str(tmp_path))
        saved = source.checkpoint()
        assert saved.is_checkpointed and not source.is_checkpointed
        assert saved.checkpoint_path == f"{tmp_path}/rdd/{source.name}"
        assert sorted(p.name for p in (tmp_path / "rdd" / source.name).iterdir()) == ["part-00000", "part-00001"]
        assert len(saved.__dask_graph__().layers) == 1  # read from the files, not from the lineage
        assert saved.collect() == [0, 10, 20, 30, 40, 50] and saved.checkpoint() is saved
        assert saved.persist().is_checkpointed
    finally:
        ssc.stop(stop_client=False)
    with pytest.raises(ValueError, match="has no checkpoint directory"):
        RDD.from_list([1]).checkpoint()
