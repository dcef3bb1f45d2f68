"""The RDD API PySpark's users reach for in foreach_rdd and transform (sorting, statistics, sampling, set
operations, ...), and the DStream and context calls around it, against plain-Python expectations, batch by
batch, on both clusters."""
import operator
import random
import statistics

from dstreams.shuffle import portable_hash
from tests.helpers import check_table

add = operator.add
NUMS = [[5, 3, 9, 1, 7, 2, 8, 3], [4], []]
PAIRS = [[("b", 2), ("a", 1), ("c", 3), ("a", 4), ("d", 0), ("b", 5)], [("z", 1)], []]


def by_key(kv):
    return kv[0]


def neg(x):
    return -x


def seeded_half(batch, seed):
    """What sample(False, 0.5, seed) keeps of a one-partition batch: partition 0 draws from Random(seed ^ 0)."""
    rng = random.Random(seed)
    return [x for x in batch if rng.random() < 0.5]


def hashed_alike(index, records):
    return [all(portable_hash(k) % 3 == index for k, _ in records)]


NUM_OPERATIONS = [
    ("sort_by", lambda s: s.transform(lambda rdd: rdd.sort_by(lambda x: x)), [sorted(b) for b in NUMS], True),
    ("sort_by descending into 3", lambda s: s.transform(lambda rdd: rdd.sort_by(neg, True, 3)),
     [sorted(b, reverse=True) for b in NUMS], True),
    ("sort_by into 1", lambda s: s.transform(lambda rdd: rdd.sort_by(neg, ascending=False, num_partitions=1)),
     [sorted(b) for b in NUMS], True),
    ("zip_with_index", lambda s: s.transform(lambda rdd: rdd.zip_with_index()),
     [[(x, i) for i, x in enumerate(b)] for b in NUMS], True),
    ("key_by", lambda s: s.transform(lambda rdd: rdd.key_by(lambda x: x % 2)), [[(x % 2, x) for x in b] for b in NUMS],
     False),
    ("sample everything", lambda s: s.transform(lambda rdd: rdd.sample(False, 1.0)), NUMS, True),
    ("sample nothing", lambda s: s.transform(lambda rdd: rdd.sample(True, 0.0)), [[], [], []], True),
    ("sample with a seed", lambda s: s.transform(lambda rdd: rdd.coalesce(1).sample(False, 0.5, seed=11)),
     [seeded_half(b, 11) for b in NUMS], True),
    ("subtract", lambda s: s.transform(lambda rdd: rdd.subtract(rdd.filter(lambda x: x % 2 == 0))),
     [[x for x in b if x % 2] for b in NUMS], False),
    ("intersection", lambda s: s.transform(lambda rdd: rdd.intersection(rdd.map(lambda x: x - 1))),
     [sorted(set(b) & {x - 1 for x in b}) for b in NUMS], False),
    ("cartesian", lambda s: s.transform(lambda rdd: rdd.cartesian(rdd.filter(lambda x: x > 7))),
     [[(a, c) for a in b for c in b if c > 7] for b in NUMS], False),
    ("coalesce with a shuffle", lambda s: s.transform(lambda rdd: rdd.coalesce(5, shuffle=True)), NUMS, False),
    ("ssc.transform of several streams",
     lambda s: s.context().transform([s, s.map(neg), s.filter(lambda x: x > 8)],
                                     lambda rdds: rdds[0].union(*rdds[1:])),
     [b + [-x for x in b] + [x for x in b if x > 8] for b in NUMS], False),
    ("ssc.transform with time", lambda s: s.context().transform([s], lambda t, rdds: rdds[0].map(lambda x: t.second)),
     [[1] * 8, [2], []], False),
]

PAIR_OPERATIONS = [
    ("sort_by_key", lambda s: s.transform(lambda rdd: rdd.sort_by_key()), [sorted(b, key=by_key) for b in PAIRS],
     True),
    ("sort_by_key descending into 2", lambda s: s.transform(lambda rdd: rdd.sort_by_key(False, 2)),
     [sorted(b, key=by_key, reverse=True) for b in PAIRS], True),
    ("sort_by_key with key_func", lambda s: s.transform(lambda rdd: rdd.sort_by_key(key_func=lambda k: -ord(k))),
     [sorted(b, key=by_key, reverse=True) for b in PAIRS], True),
    ("subtract_by_key", lambda s: s.transform(lambda rdd: rdd.subtract_by_key(rdd.filter(lambda kv: kv[0] < "c"))),
     [[kv for kv in b if kv[0] >= "c"] for b in PAIRS], False),
    ("partition_by", lambda s: s.partition_by(3).map_partitions_with_index(hashed_alike),
     [[True] * 3] * 3, True),
    ("partition_by a function", lambda s: s.partition_by(2, lambda k: k == "a").glom().map(len),
     [[4, 2], [1, 0], [0, 0]], True),
]

NUM_ACTIONS = [
    ("sum", lambda rdd: rdd.sum(), [sum(b) for b in NUMS]),
    ("mean", lambda rdd: round(rdd.mean(), 9), [round(statistics.mean(b), 9) for b in NUMS[:2]] + [0.0]),
    ("top", lambda rdd: (rdd.top(3), rdd.top(2, key=neg), rdd.top(0)),
     [(sorted(b, reverse=True)[:3], sorted(b)[:2], []) for b in NUMS]),
    ("take_ordered", lambda rdd: (rdd.take_ordered(3), rdd.take_ordered(2, key=neg)),
     [(sorted(b)[:3], sorted(b, reverse=True)[:2]) for b in NUMS]),
    ("aggregate into a list", lambda rdd: sorted(rdd.aggregate([], lambda acc, x: acc + [x], add)),
     [sorted(b) for b in NUMS]),
    ("fold with a mutable zero", lambda rdd: sorted(rdd.map(lambda x: [x]).fold([], lambda a, b: a.extend(b) or a)),
     [sorted(b) for b in NUMS]),
    ("to_local_iterator", lambda rdd: (list(rdd.to_local_iterator()), list(rdd.to_local_iterator(True))),
     [(b, b) for b in NUMS]),
    ("get_num_partitions", lambda rdd: [rdd.repartition(3).coalesce(n, s).get_num_partitions()
                                        for n, s in ((2, False), (8, False), (8, True))],
     [[2, 3, 8]] * 3),
]


def summary(stats):
    return (stats.count(), stats.sum(), stats.max(), stats.min(), round(stats.variance(), 9),
            str(round(stats.sample_stdev(), 9)))


# the actions that refuse an empty RDD (max, min, tree_reduce), and stats, over the batches with records
NONEMPTY = NUMS[:2]
NONEMPTY_ACTIONS = [
    ("stats", lambda rdd: summary(rdd.stats()),
     [(len(b), float(sum(b)), max(b), min(b), round(statistics.pvariance(b), 9),
       str(round(statistics.stdev(b), 9)) if len(b) > 1 else "nan") for b in NONEMPTY]),
    ("max, min", lambda rdd: (rdd.max(), rdd.min(), rdd.max(key=neg), rdd.min(key=neg)),
     [(max(b), min(b), min(b), max(b)) for b in NONEMPTY]),
    ("tree_reduce", lambda rdd: [rdd.repartition(9).tree_reduce(add, d) for d in (1, 2, 3)],
     [[sum(b)] * 3 for b in NONEMPTY]),
]

PAIR_ACTIONS = [
    ("lookup", lambda rdd: (rdd.lookup("a"), rdd.partition_by(2).lookup("a"), rdd.reduce_by_key(add).lookup("b")),
     [([1, 4], [1, 4], [7]), ([], [], []), ([], [], [])]),
    ("count_by_key", lambda rdd: rdd.count_by_key(), [{"a": 2, "b": 2, "c": 1, "d": 1}, {"z": 1}, {}]),
]


def test_number_operations_and_actions(client):
    check_table(client, NUMS, NUM_OPERATIONS, NUM_ACTIONS)
    check_table(client, NONEMPTY, actions=NONEMPTY_ACTIONS)


def test_pair_operations_and_actions(client):
    check_table(client, PAIRS, PAIR_OPERATIONS, PAIR_ACTIONS)
