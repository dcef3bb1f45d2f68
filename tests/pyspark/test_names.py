"""Every public name of PySpark 4.x's pyspark.streaming has an entry in the facade's tables, the facade has a
member for it, and the programming guide shows the tables as the code renders them."""
from __future__ import annotations

import inspect
import re

import pytest

from dstreams.pyspark import DStream, StreamingContext, StreamingListener, names
from tests.helpers import REPO_ROOT

# PySpark 4.x's documented API (python/docs/source/reference/pyspark.streaming.rst)
PYSPARK = {
    "StreamingContext": """addStreamingListener awaitTermination awaitTerminationOrTimeout binaryRecordsStream
        checkpoint getActive getActiveOrCreate getOrCreate queueStream remember socketTextStream sparkContext start
        stop textFileStream transform union""",
    "DStream": """cache checkpoint cogroup combineByKey context count countByValue countByValueAndWindow
        countByWindow filter flatMap flatMapValues foreachRDD fullOuterJoin glom groupByKey groupByKeyAndWindow
        join leftOuterJoin map mapPartitions mapPartitionsWithIndex mapValues partitionBy persist pprint reduce
        reduceByKey reduceByKeyAndWindow reduceByWindow repartition rightOuterJoin saveAsTextFiles slice transform
        transformWith union updateStateByKey window""",
    "StreamingListener": """onBatchCompleted onBatchStarted onBatchSubmitted onOutputOperationCompleted
        onOutputOperationStarted onReceiverError onReceiverStarted onReceiverStopped onStreamingStarted""",
}
CLASSES = {"StreamingContext": StreamingContext, "DStream": DStream, "StreamingListener": StreamingListener}


@pytest.mark.parametrize("cls", sorted(PYSPARK))
def test_every_pyspark_name_has_an_entry_and_a_member(cls):
    entries = {e.name: e for e in names.TABLES[cls]}
    missing = [n for n in PYSPARK[cls].split() if n not in entries]
    assert not missing, f"no table entry in dstreams/pyspark/names.py for {cls}.{missing}"
    absent = [n for n in PYSPARK[cls].split() if n not in vars(CLASSES[cls]) and
              not any(n in vars(base) for base in CLASSES[cls].__mro__)]
    assert not absent, f"the facade's {cls} has no member {absent}"


def test_generated_methods_take_pysparks_parameters():
    for entry in names.DSTREAM:
        if entry.call_text is None:
            continue
        want = [p.name for p in entry.params]
        assert list(inspect.signature(getattr(DStream, entry.name)).parameters)[1:] == want, entry.name
    assert list(inspect.signature(DStream.reduceByKeyAndWindow).parameters)[1:] == [
        "func", "invFunc", "windowDuration", "slideDuration", "numPartitions", "filterFunc"]


def test_the_guide_shows_the_tables_the_code_renders():
    guide = (REPO_ROOT / "docs" / "programming-guide.md").read_text()
    shown = re.search(r"<!-- pyspark-names:start -->\n(.*)<!-- pyspark-names:end -->", guide, re.S)
    assert shown is not None, "docs/programming-guide.md lost its <!-- pyspark-names --> markers"
    assert shown.group(1) == names.render(), (
        "the guide's PySpark table is stale: replace what is between its <!-- pyspark-names --> markers with the "
        "output of `python -m dstreams.pyspark.names`")
