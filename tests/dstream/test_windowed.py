"""Window operators (Spark's WindowOperationsSuite cases, with a manual clock)."""
import operator
import re

import pytest

from tests.helpers import check_operation

add, sub = operator.add, operator.sub
NUMS = [[1], [2], [3], [4], [5], [6]]


def test_window_sliding_every_batch(client):
    check_operation(client, NUMS, lambda s: s.window(2), [[1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6]])


def test_window_with_slide(client):
    # slide 2 s: windows end at 2, 4, 6
    check_operation(client, NUMS, lambda s: s.window(4, 2), [[1, 2], [1, 2, 3, 4], [3, 4, 5, 6]],
                    num_batches=6)


def test_window_larger_than_data_drains(client):
    check_operation(client, [[1], [2]], lambda s: s.window(3), [[1], [1, 2], [1, 2], [2], []])


def test_window_of_window(client):
    check_operation(client, NUMS[:4], lambda s: s.window(2).window(2), [[1], [1, 1, 2], [1, 2, 2, 3], [2, 3, 3, 4]])


def test_count_by_window(client):
    check_operation(client, [[1], [1, 2], [3], [], []], lambda s: s.count_by_window(2),
                    [[1], [3], [3], [1], [0]], checkpoint_dir="memory://ckpt-cbw")


def test_reduce_by_window_without_inverse(client):
    check_operation(client, [[1], [2, 3], [4], []], lambda s: s.reduce_by_window(add, None, 2),
                    [[1], [6], [9], [4]])


def test_reduce_by_window_with_inverse(client, tmp_path):
    check_operation(client, [[1], [2, 3], [4], []], lambda s: s.reduce_by_window(add, sub, 2),
                    [[1], [6], [9], [4]], checkpoint_dir=tmp_path)


PAIRS = [[("a", 1)], [("a", 1), ("b", 1)], [("b", 1)], [], []]


def test_reduce_by_key_and_window_without_inverse(client):
    check_operation(client, PAIRS, lambda s: s.reduce_by_key_and_window(add, None, 2),
                    [[("a", 1)], [("a", 2), ("b", 1)], [("a", 1), ("b", 2)], [("b", 1)], []])


def test_reduce_by_key_and_window_with_inverse_keeps_zero_keys_as_spark(client, tmp_path):
    check_operation(client, PAIRS, lambda s: s.reduce_by_key_and_window(add, sub, 2),
                    [[("a", 1)], [("a", 2), ("b", 1)], [("a", 1), ("b", 2)], [("a", 0), ("b", 1)],
                     [("a", 0), ("b", 0)]], checkpoint_dir=tmp_path)


def test_reduce_by_key_and_window_with_inverse_and_filter(client, tmp_path):
    check_operation(client, PAIRS, lambda s: s.reduce_by_key_and_window(add, sub, 2, filter_func=lambda kv: kv[1] > 0),
                    [[("a", 1)], [("a", 2), ("b", 1)], [("a", 1), ("b", 2)], [("b", 1)], []],
                    checkpoint_dir=tmp_path)


def test_reduce_by_key_and_window_with_slide(client, tmp_path):
    pairs = [[("a", 1)], [("a", 2)], [("a", 3)], [("a", 4)], [("a", 5)], [("a", 6)]]
    for inv in (None, sub):
        check_operation(client, pairs, lambda s, inv=inv: s.reduce_by_key_and_window(add, inv, 4, 2),
                        [[("a", 3)], [("a", 10)], [("a", 18)]], num_batches=6, checkpoint_dir=tmp_path)


def test_count_by_value_and_window(client, tmp_path):
    check_operation(client, [["a", "b"], ["a"], [], []], lambda s: s.count_by_value_and_window(2),
                    [[("a", 1), ("b", 1)], [("a", 2), ("b", 1)], [("a", 1)], []], checkpoint_dir=tmp_path)


def test_group_by_key_and_window(client):
    check_operation(client, PAIRS[:3], lambda s: s.group_by_key_and_window(2).map_values(sorted),
                    [[("a", [1])], [("a", [1, 1]), ("b", [1])], [("a", [1]), ("b", [1, 1])]])


@pytest.mark.parametrize("call,message", [
    (lambda s: s.window(1.5),
     "window duration 1.5s of stream 'queue-0' (queue_stream at SITE) is not a multiple of the batch interval 1s; "
     "use a multiple such as 2s"),
    (lambda s: s.window(4, 3).window(4), "not a multiple of its slide interval 3s; use a multiple such as 3s"),
    (lambda s: s.reduce_by_key_and_window(add, None, 2, 0.5), "slide duration 500ms"),
    (lambda s: s.window(-1), "must be positive"),
    (lambda s: s.window("1500ms"), "window duration 1.5s of stream 'queue-0' (queue_stream at SITE) is not a multiple"),
    (lambda s: s.window("2 parsecs"),
     "window duration of stream 'queue-0' (queue_stream at SITE) '2 parsecs' is not a duration Dask can read; "
     "write it as for example"),
    (lambda s: s.window([2]), "must be a number of seconds, a datetime.timedelta or a string such as '2s'"),
])
def test_bad_window_durations_are_refused_with_the_fix(ssc, call, message):
    pattern = re.escape(message).replace("SITE", r"[^)]*test_windowed\.py:\d+")  # the line of queue_stream below
    with pytest.raises((ValueError, TypeError), match=pattern):
        call(ssc.queue_stream([]))


def test_inverse_window_needs_a_checkpoint_directory(ssc):
    ssc.queue_stream([]).reduce_by_key_and_window(add, sub, 2).pprint()
    with pytest.raises(ValueError, match=r"needs a checkpoint directory.*ssc\.checkpoint"):
        ssc.start()
