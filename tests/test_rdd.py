"""The RDD of a batch: a Dask collection with Spark's actions and pair operations."""
import operator

import dask
import pytest

from dstreams import RDD


@pytest.fixture
def words(client):
    return RDD.from_list(["a b", "a", "c b a", "", "d"], 3, client=client)


def test_is_a_dask_collection(words):
    assert dask.is_dask_collection(words)
    (records,) = dask.compute(words)
    assert records == ["a b", "a", "c b a", "", "d"]
    assert len(words.__dask_keys__()) == 3


def test_converts_to_bag_without_copying(words):
    bag = words.to_bag()
    assert bag.npartitions == words.npartitions
    assert bag.__dask_keys__() == words.__dask_keys__()
    assert bag.__dask_graph__() is words.__dask_graph__()
    assert bag.map(len).sum().compute() == 10


def test_to_dataframe(client):
    rdd = RDD.from_list([("a", 1), ("b", 2)], 2, client=client)
    df = rdd.to_dataframe(columns=["k", "v"])
    assert df.npartitions == 2
    assert df.compute().sort_values("k").values.tolist() == [["a", 1], ["b", 2]]


def test_actions(words):
    assert words.count() == 5
    assert words.take(2) == ["a b", "a"]
    assert words.take(100) == words.collect()
    assert words.first() == "a b"
    assert not words.is_empty()
    assert words.count_by_value()["a"] == 1
    assert words.flat_map(str.split).map(len).reduce(operator.add) == 7
    assert words.map(len).fold(0, operator.add) == 10


def test_empty_rdd_actions(client):
    empty = RDD.empty(client)
    assert empty.is_empty() and empty.count() == 0 and empty.take(3) == []
    with pytest.raises(ValueError, match="empty.*fold"):
        empty.reduce(operator.add)
    with pytest.raises(ValueError, match="empty"):
        empty.first()
    assert empty.fold(0, operator.add) == 0


def test_partitioning_ops(words):
    assert words.glom().map(len).collect() == [1, 2, 2]
    assert words.coalesce(1).glom().map(len).collect() == [5]
    assert sorted(words.repartition(4).collect()) == sorted(words.collect())
    assert words.repartition(4).npartitions == 4
    pairs = words.flat_map(str.split).map(lambda w: (w, 1))
    parted = pairs.partition_by(2)
    for i, part in enumerate(parted.glom().collect()):
        from dstreams.shuffle import portable_hash

        assert all(portable_hash(k) % 2 == i for k, _ in part)
    assert sorted(words.flat_map(str.split).distinct().collect()) == ["a", "b", "c", "d"]
    assert words.map_partitions_with_index(lambda i, it: [(i, len(list(it)))]).collect() == [(0, 1), (1, 2), (2, 2)]


def test_pair_ops_and_map_side_combine(words):
    pairs = words.flat_map(str.split).map(lambda w: (w, 1))
    counts = pairs.reduce_by_key(operator.add, 2)
    assert counts.npartitions == 2
    assert sorted(counts.collect()) == [("a", 3), ("b", 2), ("c", 1), ("d", 1)]
    # map-side combine: the shuffle moves one record per key per input partition, not one per word
    combined = pairs.combine_by_key(lambda v: v, operator.add, operator.add, 2)
    layers = combined.__dask_graph__().layers
    combine_layer = next(name for name in layers if name.endswith("-combine"))
    local = dask.compute(RDD(combined.__dask_graph__(), combine_layer, 3))[0]
    assert len(local) == 6  # partitions: {a,b}, {a}+{c,b,a}->{a,c,b}, {d} => 2 + 3 + 1
    assert sorted(pairs.group_by_key().map_values(len).collect()) == [("a", 3), ("b", 2), ("c", 1), ("d", 1)]
    assert sorted(pairs.aggregate_by_key(0, operator.add, operator.add).collect()) == sorted(counts.collect())
    assert sorted(pairs.fold_by_key(0, operator.add).collect()) == sorted(counts.collect())
    assert pairs.count_by_key() == {"a": 3, "b": 2, "c": 1, "d": 1}
    assert sorted(counts.map_values(str).collect())[0] == ("a", "3")
    assert sorted(counts.flat_map_values(lambda v: [v] * v).keys().collect()) == list("aaabbcd")


def test_already_partitioned_reduce_skips_the_shuffle(words):
    pairs = words.flat_map(str.split).map(lambda w: (w, 1)).partition_by(2)
    again = pairs.reduce_by_key(operator.add, 2)
    assert not any(name.endswith("-shuffle") for name in again.__dask_graph__().layers if again.name in name)
    assert sorted(again.collect()) == [("a", 3), ("b", 2), ("c", 1), ("d", 1)]


def test_pair_ops_reject_non_pairs_with_the_fix(words):
    with pytest.raises(TypeError, match=r"needs \(key, value\) records.*map\(lambda x: \(x, 1\)\)"):
        words.reduce_by_key(operator.add).collect()


def test_joins(client):
    left = RDD.from_list([("a", 1), ("b", 2), ("a", 3)], 2, client=client)
    right = RDD.from_list([("a", "x"), ("c", "y")], 1, client=client)
    assert sorted(left.join(right).collect()) == [("a", (1, "x")), ("a", (3, "x"))]
    assert sorted(left.left_outer_join(right).collect()) == [("a", (1, "x")), ("a", (3, "x")), ("b", (2, None))]
    assert sorted(left.right_outer_join(right).collect()) == [("a", (1, "x")), ("a", (3, "x")), ("c", (None, "y"))]
    assert len(left.full_outer_join(right, 3).collect()) == 4
    assert sorted(left.cogroup(right).map_values(lambda g: (sorted(g[0]), g[1])).collect()) == [
        ("a", ([1, 3], ["x"])), ("b", ([2], [])), ("c", ([], ["y"]))]


def test_persist_and_unpersist(client, words):
    kept = words.map(str.upper).persist()
    assert kept.is_persisted
    keys = kept.__dask_keys__()
    assert all(client.who_has(keys).values())
    assert kept.collect() == ["A B", "A", "C B A", "", "D"]
    kept.unpersist()
    assert not kept.is_persisted


def test_foreach_partition_runs_on_workers(words, tmp_path):
    def write(it):
        import uuid

        with open(tmp_path / f"part-{uuid.uuid4().hex}", "w") as fh:
            fh.write("\n".join(it))

    words.foreach_partition(write)
    lines = sorted(line for p in tmp_path.iterdir() for line in p.read_text().split("\n"))
    assert lines == sorted(["a b", "a", "c b a", "", "d"])


def test_save_as_text_file(words, tmp_path):
    out = tmp_path / "out"
    words.save_as_text_file(str(out))
    assert sorted(p.name for p in out.iterdir()) == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    assert (out / "part-00002").read_text() == "\nd\n"


def test_offset_ranges_are_only_on_kafka_batches(words):
    import dstreams.kafka  # noqa: F401  (the Kafka source says where its offset ranges are)

    with pytest.raises(AttributeError, match="no attribute 'offset_ranges': Kafka offset ranges exist on the "
                                             "RDDs of a Kafka direct stream.*create_direct_stream"):
        _ = words.offset_ranges
    with pytest.raises(AttributeError, match=r"has no attribute 'no_such_method'$"):  # no hint where none fits
        _ = words.no_such_method
    assert not hasattr(words, "__array__") and words.origins is None


def test_cogroup_does_not_shuffle_an_input_already_partitioned_alike(client):
    state = RDD.from_list([("a", 1), ("b", 2)], 1, client=client).partition_by(2)
    new = RDD.from_list([("b", 3)], 1, client=client)
    grouped = state.cogroup(new, num_partitions=2, name="cg")
    layers = set(grouped.__dask_graph__().layers)
    assert "cg-shuffle1" in layers and "cg-shuffle0" not in layers
    assert sorted(grouped.map_values(lambda g: (g[0], g[1])).collect()) == [("a", ([1], [])), ("b", ([2], [3]))]


def test_narrow_operations_are_pipelined_into_one_task_per_partition(words):
    chained = words.flat_map(str.split).filter(lambda w: w != "d").map(lambda w: (w, 1)).map_values(lambda v: v * 2)
    layers = chained.__dask_graph__().layers
    assert len(layers) == 2  # the source and one fused layer, not one layer per operation
    assert sorted(chained.collect()) == [("a", 2), ("a", 2), ("a", 2), ("b", 2), ("b", 2), ("c", 2)]
    # a persisted RDD starts a new chain: its partitions are read, not recomputed
    kept = words.flat_map(str.split).persist()
    assert sorted(kept.map(str.upper).collect()) == ["A", "A", "A", "B", "B", "C", "D"]
    kept.unpersist()


def test_partitions_travel_between_processes_in_one_piece(client):
    """Tasks return Records, a list that Dask pickles whole (an exact list is sent element by element,
    about ten times slower); the driver still gets plain lists."""
    from distributed.protocol import serialize

    from dstreams._util import Records

    rdd = RDD.from_list([("a", 1), ("b", 2), ("a", 3)], 2, client=client).reduce_by_key(operator.add)
    parts = client.get(rdd.__dask_graph__(), rdd.__dask_keys__())
    assert [type(p) for p in parts] == [Records, Records]
    out = rdd.collect()
    assert type(out) is list and sorted(out) == [("a", 4), ("b", 2)]
    header, frames = serialize(Records([("a", 1)] * 1000))
    assert header.get("serializer") == "pickle" and len(frames) == 1


def test_pair_operations_name_a_record_that_is_not_a_pair_and_pass_user_errors_through(client):
    """The combine consumes the chain before it in one pass: an error of a user function in that chain
    must reach the caller as it is, not as a complaint about the records."""
    def bad(x):
        raise TypeError(f"user bug on {x}")

    with pytest.raises(TypeError, match=r"a pair operation needs \(key, value\) records, got 1; map the stream"):
        RDD.from_list([1, 2], 1, client=client).reduce_by_key(operator.add).collect()
    with pytest.raises(TypeError, match="user bug on 1"):
        RDD.from_list([1, 2], 1, client=client).map(bad).reduce_by_key(operator.add).collect()
    with pytest.raises(TypeError, match="unsupported operand"):  # the merge itself failing
        RDD.from_list([("a", 1), ("a", "x")], 1, client=client).reduce_by_key(operator.add).collect()
