"""A PySpark (camelCase) name on the snake_case API says which name to use; reprs name no internal class."""
from __future__ import annotations

import pytest

from dstreams import RDD, StreamingContext
from dstreams._names import snake
from dstreams.testing import ManualClock


def test_camel_case_names_point_at_the_snake_case_ones(client):
    ssc = StreamingContext(client, 1, clock=ManualClock())
    try:
        stream = ssc.queue_stream([[("a", 1)]]).map(lambda kv: kv)
        with pytest.raises(AttributeError, match=r"did you mean `reduce_by_key`\? \(or use dstreams.pyspark"):
            stream.reduceByKey(lambda a, b: a + b)
        with pytest.raises(AttributeError) as info:
            stream.foreachRDD(print)
        assert "`foreach_rdd`" in str(info.value) and "PerRDD" not in str(info.value)
        assert "PerRDD" not in repr(stream) and repr(stream).startswith("<DStream 'map-")
        with pytest.raises(AttributeError, match="did you mean `socket_text_stream`"):
            ssc.socketTextStream("localhost", 9999)
        with pytest.raises(AttributeError, match="did you mean `sort_by_key`"):
            RDD.from_list([1]).sortByKey()
        with pytest.raises(AttributeError, match=r"no attribute 'groupWith': \(or use dstreams.pyspark"):
            RDD.from_list([1]).groupWith()
    finally:
        ssc.stop(stop_client=False)


@pytest.mark.parametrize("camel, snake_name", [("reduceByKeyAndWindow", "reduce_by_key_and_window"),
                                               ("foreachRDD", "foreach_rdd"), ("initialRDD", "initial_rdd"),
                                               ("zipWithIndex", "zip_with_index")])
def test_snake(camel, snake_name):
    assert snake(camel) == snake_name
