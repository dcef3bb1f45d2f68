"""The facade through PySpark's documented semantics, one table row per operation (the streaming programming
guide's tables), on queue streams under a manual clock."""
from __future__ import annotations

import operator

import pytest

import dstreams
from dstreams import BatchFailedError
from dstreams.pyspark import RDD, SparkContext, StreamingContext, StreamingListener
from dstreams.testing import ManualClock, run_batches

INPUT = [["a b", "a"], ["b c"], [], ["a"]]
PAIRS = [[("a", 1), ("b", 2)], [("a", 3)], [("c", 4)]]
OTHER = [[("a", "x")], [("b", "y")], [("c", "z")]]


@pytest.fixture(scope="module")
def sc(client):
    return SparkContext(master=client)  # a handle on the tests' cluster: stop() leaves it open


def context(sc, batch=1.0):
    return StreamingContext(sc, jssc=dstreams.StreamingContext(sc.client, batch, clock=ManualClock(),
                                                               on_batch_failure="continue"))


def words(s):
    return s.flatMap(lambda line: line.split())


def pairs(s):
    return words(s).map(lambda w: (w, 1))


def acc(new, last):
    return sum(new) + (last or 0)


# (name, input batches, operation, expected records per batch)
ROWS = [
    ("map", INPUT, lambda s: s.map(len), [[3, 1], [3], [], [1]]),
    ("flatMap", INPUT, words, [["a", "b", "a"], ["b", "c"], [], ["a"]]),
    ("filter", INPUT, lambda s: s.filter(lambda x: "b" in x), [["a b"], ["b c"], [], []]),
    ("repartition", INPUT, lambda s: s.repartition(3).glom().map(len).reduce(operator.add), [[2], [1], [0], [1]]),
    ("union", INPUT, lambda s: s.union(s.map(str.upper)), [["a b", "a", "A B", "A"], ["b c", "B C"], [], ["a", "A"]]),
    ("count", INPUT, lambda s: s.count(), [[2], [1], [0], [1]]),
    ("reduce", INPUT, lambda s: words(s).reduce(operator.add), [["aba"], ["bc"], [], ["a"]]),
    ("countByValue", INPUT, lambda s: words(s).countByValue(), [[("a", 2), ("b", 1)], [("b", 1), ("c", 1)], [],
                                                                 [("a", 1)]]),
    ("reduceByKey", INPUT, lambda s: pairs(s).reduceByKey(operator.add, numPartitions=2),
     [[("a", 2), ("b", 1)], [("b", 1), ("c", 1)], [], [("a", 1)]]),
    ("groupByKey", PAIRS, lambda s: s.groupByKey().mapValues(sorted), [[("a", [1]), ("b", [2])], [("a", [3])],
                                                                      [("c", [4])]]),
    ("combineByKey", PAIRS, lambda s: s.combineByKey(str, lambda c, v: c + str(v), operator.add),
     [[("a", "1"), ("b", "2")], [("a", "3")], [("c", "4")]]),
    ("mapValues", PAIRS, lambda s: s.mapValues(lambda v: -v), [[("a", -1), ("b", -2)], [("a", -3)], [("c", -4)]]),
    ("flatMapValues", PAIRS, lambda s: s.flatMapValues(range), [[("a", 0), ("b", 0), ("b", 1)],
                                                                [("a", 0), ("a", 1), ("a", 2)],
                                                                [("c", 0), ("c", 1), ("c", 2), ("c", 3)]]),
    ("glom", [[1, 2, 3]], lambda s: s.repartition(1).glom(), [[[1, 2, 3]]]),
    ("mapPartitions", [[1, 2, 3]], lambda s: s.repartition(1).mapPartitions(lambda it: [sum(it)]), [[6]]),
    ("mapPartitionsWithIndex", [[1, 2]], lambda s: s.repartition(1).mapPartitionsWithIndex(lambda i, it: [i]),
     [[0]]),
    ("partitionBy", PAIRS, lambda s: s.partitionBy(1).glom().map(len), [[2], [1], [1]]),
    ("transform", INPUT, lambda s: s.transform(lambda rdd: rdd.sortBy(len).zipWithIndex()),
     [[("a", 0), ("a b", 1)], [("b c", 0)], [], [("a", 0)]]),
    ("transform time", INPUT, lambda s: s.transform(lambda t, rdd: rdd.map(lambda x: type(t).__name__)),
     [["datetime", "datetime"], ["datetime"], [], ["datetime"]]),
    ("window", [[1], [2], [3], [], []], lambda s: s.window(2, 1), [[1], [1, 2], [2, 3], [3], []]),
    ("window slide", [[1], [2], [3], [4]], lambda s: s.window(2, 2), [[1, 2], [3, 4]]),
    ("countByWindow", [[1], [2, 3], [], [], []], lambda s: s.countByWindow(2, 1), [[1], [3], [2], [0], [0]]),
    ("reduceByWindow", [[1], [2, 3], [], []], lambda s: s.reduceByWindow(operator.add, operator.sub, 2, 1),
     [[1], [6], [5], [0]]),
    ("reduceByKeyAndWindow", PAIRS + [[]], lambda s: s.reduceByKeyAndWindow(operator.add, None, 2, 1),
     [[("a", 1), ("b", 2)], [("a", 4), ("b", 2)], [("a", 3), ("c", 4)], [("c", 4)]]),
    ("reduceByKeyAndWindow inverse", PAIRS + [[], []],
     lambda s: s.reduceByKeyAndWindow(operator.add, operator.sub, 2, 1, filterFunc=lambda kv: kv[1] != 0),
     [[("a", 1), ("b", 2)], [("a", 4), ("b", 2)], [("a", 3), ("c", 4)], [("c", 4)], []]),
    ("countByValueAndWindow", [["x"], ["x", "y"], [], []], lambda s: s.countByValueAndWindow(2, 1),
     [[("x", 1)], [("x", 2), ("y", 1)], [("x", 1), ("y", 1)], []]),
    ("groupByKeyAndWindow", PAIRS, lambda s: s.groupByKeyAndWindow(2, 1).mapValues(sorted),
     [[("a", [1]), ("b", [2])], [("a", [1, 3]), ("b", [2])], [("a", [3]), ("c", [4])]]),
    ("updateStateByKey", INPUT, lambda s: pairs(s).updateStateByKey(acc),
     [[("a", 2), ("b", 1)], [("a", 2), ("b", 2), ("c", 1)], [("a", 2), ("b", 2), ("c", 1)],
      [("a", 3), ("b", 2), ("c", 1)]]),
    ("updateStateByKey initialRDD", PAIRS, lambda s: s.updateStateByKey(acc, initialRDD=[("z", 9)]),
     [[("a", 1), ("b", 2), ("z", 9)], [("a", 4), ("b", 2), ("z", 9)], [("a", 4), ("b", 2), ("c", 4), ("z", 9)]]),
]

# (name, operation(stream, other), expected) over PAIRS and OTHER
JOINS = [
    ("join", lambda s, o: s.join(o), [[("a", (1, "x"))], [], [("c", (4, "z"))]]),
    ("leftOuterJoin", lambda s, o: s.leftOuterJoin(o), [[("a", (1, "x")), ("b", (2, None))], [("a", (3, None))],
                                                        [("c", (4, "z"))]]),
    ("rightOuterJoin", lambda s, o: s.rightOuterJoin(o), [[("a", (1, "x"))], [("b", (None, "y"))],
                                                          [("c", (4, "z"))]]),
    ("fullOuterJoin", lambda s, o: s.fullOuterJoin(o), [[("a", (1, "x")), ("b", (2, None))],
                                                        [("a", (3, None)), ("b", (None, "y"))], [("c", (4, "z"))]]),
    ("cogroup", lambda s, o: s.cogroup(o).mapValues(lambda vs: tuple(map(list, vs))),
     [[("a", ([1], ["x"])), ("b", ([2], []))], [("a", ([3], [])), ("b", ([], ["y"]))], [("c", ([4], ["z"]))]]),
    ("transformWith", lambda s, o: s.transformWith(lambda a, b: a.subtractByKey(b), o),
     [[("b", 2)], [("a", 3)], []]),
    ("ssc.transform", lambda s, o: s.context().transform([s, o], lambda rdds: rdds[0].keys().union(rdds[1].keys())),
     [["a", "a", "b"], ["a", "b"], ["c", "c"]]),
]


def norm(batches):
    return [sorted(b, key=repr) for b in batches]


def test_every_operation_means_what_pyspark_documents(sc, tmp_path):
    sc.setCheckpointDir(str(tmp_path))  # stateful streams checkpoint there, as in Spark
    ssc = context(sc)
    got = {}
    try:
        for name, inputs, operation, _ in ROWS:
            out = got[name] = []
            operation(ssc.queueStream(inputs)).foreachRDD(lambda rdd, out=out: out.append(rdd.collect()))
        for name, operation, _ in JOINS:
            out = got[name] = []
            operation(ssc.queueStream(PAIRS), ssc.queueStream(OTHER)).foreachRDD(
                lambda rdd, out=out: out.append(rdd.collect()))
        ssc.start()
        assert ssc.ssc.checkpoint_dir == str(tmp_path)
        run_batches(ssc.ssc, 5)
    finally:
        ssc.stop(stopSparkContext=False)
        sc.setCheckpointDir(None)
    wrong = [f"{name}: got {norm(got[name][:len(want)])}, want {norm(want)}"
             for name, _, _, want in ROWS if norm(got[name][:len(want)]) != norm(want)]
    wrong += [f"{name}: got {norm(got[name][:3])}, want {norm(want)}"
              for name, _, want in JOINS if norm(got[name][:3]) != norm(want)]
    assert not wrong, "\n".join(wrong)


def test_a_window_drains_after_the_input_ends(sc):
    """A window of 1.5 s over 0.5 s batches keeps emitting as it empties, then emits empty batches."""
    ssc = context(sc, 0.5)
    out = []
    ssc.queueStream([[1], [2]]).window(1.5, 0.5).foreachRDD(lambda rdd: out.append(sorted(rdd.collect())))
    try:
        run_batches(ssc.ssc, 6)
    finally:
        ssc.stop(stopSparkContext=False)
    assert out == [[1], [1, 2], [1, 2], [2], [], []]


class Batches(StreamingListener):
    def __init__(self):
        self.failures = []

    def onBatchCompleted(self, batchCompleted):
        self.failures.append(batchCompleted.batchInfo().failure_reason is not None)


def test_a_failed_batch_is_reported_and_the_next_ones_run(sc):
    """PySpark's own test: the second batch fails, the third and fourth still output; awaitTermination raises."""
    def fail_second(i):
        if i == 1:
            raise ValueError("This is a special error")
        return i

    ssc = context(sc)
    listener = Batches()
    ssc.addStreamingListener(listener)
    out = []
    ssc.queueStream([sc.parallelize([d], 1) for d in range(4)]).map(fail_second).foreachRDD(
        lambda rdd: out.append(rdd.collect()))
    try:
        run_batches(ssc.ssc, 4)
        assert out == [[0], [2], [3]]
        assert listener.failures == [False, True, False, False]
        with pytest.raises(BatchFailedError, match="This is a special error"):
            ssc.awaitTerminationOrTimeout(10)
    finally:
        ssc.stop(stopSparkContext=False)


def test_rdd_has_pyspark_names_and_exposes_the_dstreams_rdd(sc):
    rdd = sc.parallelize([("b", 2), ("a", 1), ("a", 3)], 2)
    assert isinstance(rdd, RDD) and isinstance(rdd.rdd, dstreams.RDD)
    assert rdd.reduceByKey(operator.add).sortByKey().collect() == [("a", 4), ("b", 2)]
    assert rdd.values().sum() == 6 and rdd.getNumPartitions() == 2
    assert rdd.takeOrdered(1, key=lambda kv: -kv[1]) == [("a", 3)]
    assert sc.union([rdd, sc.emptyRDD()]).count() == 3
    assert sc.broadcast([1]).value == [1]
    with pytest.raises(AttributeError, match="'RDD' of dstreams.pyspark has no attribute 'groupWith'"):
        rdd.groupWith()


def test_text_file(sc, tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\n")
    (tmp_path / "b.txt").write_text("three\n")
    assert sorted(sc.textFile(str(tmp_path / "*.txt")).collect()) == ["one", "three", "two"]


def test_stop_spark_context_closes_only_what_it_made(sc):
    ssc = context(sc)
    ssc.queueStream([[1]]).pprint()
    ssc.start()
    ssc.stop(stopSparkContext=True, stopGraceFully=True)  # sc wraps the tests' client: it stays open
    assert sc.client.status == "running" and ssc.ssc.state.value == "stopped"
