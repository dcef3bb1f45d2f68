"""The facade's tables: every PySpark streaming name and the dstreams call it becomes.

The facade classes are built from these tables (see :mod:`dstreams.pyspark._adapt`), and the programming
guide's table is rendered from them: ``python -m dstreams.pyspark.names`` prints it in Markdown.
"""
from __future__ import annotations

from ._adapt import Entry as E

_PRESERVES = "``preservesPartitioning`` is accepted and ignored (dstreams keeps no partitioner through a map)."
_WINDOW = "Durations are seconds (or a ``timedelta``, or a string such as ``'2s'``)."

DSTREAM = [
    E("cache()", "cache()"),
    E("checkpoint(interval)", "checkpoint(interval)", _WINDOW),
    E("cogroup(other, numPartitions=None)", "cogroup(other, num_partitions=numPartitions)"),
    E("combineByKey(createCombiner, mergeValue, mergeCombiners, numPartitions=None)",
      "combine_by_key(create_combiner=createCombiner, merge_value=mergeValue, merge_combiners=mergeCombiners, "
      "num_partitions=numPartitions)"),
    E("context()", None, "Returns the facade StreamingContext.", target="context()"),
    E("count()", "count()"),
    E("countByValue()", "count_by_value()"),
    E("countByValueAndWindow(windowDuration, slideDuration, numPartitions=None)",
      "count_by_value_and_window(window_duration=windowDuration, slide_duration=slideDuration, "
      "num_partitions=numPartitions)"),
    E("countByWindow(windowDuration, slideDuration)",
      "count_by_window(window_duration=windowDuration, slide_duration=slideDuration)",
      "Needs a checkpoint directory, as in Spark (``ssc.checkpoint`` or ``sc.setCheckpointDir``)."),
    E("filter(f)", "filter(f=f)"),
    E("flatMap(f, preservesPartitioning=None)", "flat_map(f=f)", _PRESERVES),
    E("flatMapValues(f)", "flat_map_values(f=f)"),
    E("foreachRDD(func)", "foreach_rdd(func=rdd_fn(func))",
      "``func(rdd)`` or ``func(time, rdd)``; ``time`` is a ``datetime``, the RDD has PySpark's method names."),
    E("fullOuterJoin(other, numPartitions=None)", "full_outer_join(other, num_partitions=numPartitions)"),
    E("glom()", "glom()"),
    E("groupByKey(numPartitions=None)", "group_by_key(num_partitions=numPartitions)",
      "Values come as a list (PySpark: a ``ResultIterable``)."),
    E("groupByKeyAndWindow(windowDuration, slideDuration, numPartitions=None)",
      "group_by_key_and_window(window_duration=windowDuration, slide_duration=slideDuration, "
      "num_partitions=numPartitions)"),
    E("join(other, numPartitions=None)", "join(other, num_partitions=numPartitions)"),
    E("leftOuterJoin(other, numPartitions=None)", "left_outer_join(other, num_partitions=numPartitions)"),
    E("map(f, preservesPartitioning=None)", "map(f=f)", _PRESERVES),
    E("mapPartitions(f, preservesPartitioning=None)", "map_partitions(f=f)", _PRESERVES),
    E("mapPartitionsWithIndex(f, preservesPartitioning=None)", "map_partitions_with_index(f=f)", _PRESERVES),
    E("mapValues(f)", "map_values(f=f)"),
    E("partitionBy(numPartitions, partitionFunc=None)",
      "partition_by(num_partitions=numPartitions, partition_func=partitionFunc)",
      "``partitionFunc`` defaults to dstreams' ``portable_hash``."),
    E("persist(storageLevel)", "persist(storage_level=storageLevel)",
      "The storage level is accepted; Dask keeps the data in worker memory (spilling to disk when short)."),
    E("pprint(num=10)", "pprint(num=num)"),
    E("reduce(func)", "reduce(f=func)"),
    E("reduceByKey(func, numPartitions=None)", "reduce_by_key(f=func, num_partitions=numPartitions)"),
    E("reduceByKeyAndWindow(func, invFunc, windowDuration, slideDuration=None, numPartitions=None, "
      "filterFunc=None)",
      "reduce_by_key_and_window(func=func, inv_func=invFunc, window_duration=windowDuration, "
      "slide_duration=slideDuration, num_partitions=numPartitions, filter_func=filterFunc)",
      "With ``invFunc`` it needs a checkpoint directory, as in Spark."),
    E("reduceByWindow(reduceFunc, invReduceFunc, windowDuration, slideDuration)",
      "reduce_by_window(reduce_func=reduceFunc, inv_reduce_func=invReduceFunc, window_duration=windowDuration, "
      "slide_duration=slideDuration)"),
    E("repartition(numPartitions)", "repartition(num_partitions=numPartitions)"),
    E("rightOuterJoin(other, numPartitions=None)", "right_outer_join(other, num_partitions=numPartitions)"),
    E("saveAsTextFiles(prefix, suffix=None)", "save_as_text_files(prefix=prefix, suffix=suffix)"),
    E("slice(begin, end)", "slice(begin, end)", "Returns a list of RDDs with PySpark's method names."),
    E("transform(func)", "transform(func=rdd_fn(func))", "``func(rdd)`` or ``func(time, rdd)``."),
    E("transformWith(func, other, keepSerializer=False)", "transform_with(other, func=rdd_fn(func))",
      "dstreams puts ``other`` first; ``keepSerializer`` is accepted and ignored."),
    E("union(other)", "union(other)"),
    E("updateStateByKey(updateFunc, numPartitions=None, initialRDD=None)",
      "update_state_by_key(update_func=updateFunc, num_partitions=numPartitions, initial_rdd=initialRDD)",
      "Needs a checkpoint directory, as in Spark (``ssc.checkpoint`` or ``sc.setCheckpointDir``)."),
    E("window(windowDuration, slideDuration=None)",
      "window(window_duration=windowDuration, slide_duration=slideDuration)", _WINDOW),
]

RDD = [
    E("aggregate(zeroValue, seqOp, combOp)", "aggregate(zeroValue, seqOp, combOp)"),
    E("aggregateByKey(zeroValue, seqFunc, combFunc, numPartitions=None)",
      "aggregate_by_key(zeroValue, seqFunc, combFunc, num_partitions=numPartitions)"),
    E("cache()", "persist()"),
    E("cartesian(other)", "cartesian(other)"),
    E("checkpoint()", "checkpoint()", "Written under the StreamingContext's checkpoint directory."),
    E("coalesce(numPartitions, shuffle=False)", "coalesce(numPartitions, shuffle=shuffle)"),
    E("cogroup(other, numPartitions=None)", "cogroup(other, num_partitions=numPartitions)"),
    E("collect()", "collect()"),
    E("combineByKey(createCombiner, mergeValue, mergeCombiners, numPartitions=None)",
      "combine_by_key(createCombiner, mergeValue, mergeCombiners, num_partitions=numPartitions)"),
    E("count()", "count()"),
    E("countByKey()", "count_by_key()"),
    E("countByValue()", "count_by_value()"),
    E("distinct(numPartitions=None)", "distinct(num_partitions=numPartitions)"),
    E("filter(f)", "filter(f)"),
    E("first()", "first()"),
    E("flatMap(f, preservesPartitioning=None)", "flat_map(f)", _PRESERVES),
    E("flatMapValues(f)", "flat_map_values(f)"),
    E("fold(zeroValue, op)", "fold(zeroValue, op)"),
    E("foldByKey(zeroValue, func, numPartitions=None)", "fold_by_key(zeroValue, func, num_partitions=numPartitions)"),
    E("foreach(f)", "foreach(f)"),
    E("foreachPartition(f)", "foreach_partition(f)"),
    E("fullOuterJoin(other, numPartitions=None)", "full_outer_join(other, num_partitions=numPartitions)"),
    E("getNumPartitions()", "get_num_partitions()"),
    E("glom()", "glom()"),
    E("groupByKey(numPartitions=None)", "group_by_key(num_partitions=numPartitions)"),
    E("intersection(other)", "intersection(other)"),
    E("isCheckpointed()", "is_checkpointed()"),
    E("isEmpty()", "is_empty()"),
    E("join(other, numPartitions=None)", "join(other, num_partitions=numPartitions)"),
    E("keyBy(f)", "key_by(f)"),
    E("keys()", "keys()"),
    E("leftOuterJoin(other, numPartitions=None)", "left_outer_join(other, num_partitions=numPartitions)"),
    E("lookup(key)", "lookup(key)"),
    E("map(f, preservesPartitioning=None)", "map(f)", _PRESERVES),
    E("mapPartitions(f, preservesPartitioning=None)", "map_partitions(f)", _PRESERVES),
    E("mapPartitionsWithIndex(f, preservesPartitioning=None)", "map_partitions_with_index(f)", _PRESERVES),
    E("mapValues(f)", "map_values(f)"),
    E("max(key=None)", "max(key=key)"),
    E("mean()", "mean()"),
    E("min(key=None)", "min(key=key)"),
    E("partitionBy(numPartitions, partitionFunc=portable_hash)", "partition_by(numPartitions, partitionFunc)"),
    E("persist(storageLevel=None)", "persist()", "The storage level is accepted and ignored."),
    E("reduce(f)", "reduce(f)"),
    E("reduceByKey(func, numPartitions=None)", "reduce_by_key(func, num_partitions=numPartitions)"),
    E("repartition(numPartitions)", "repartition(numPartitions)"),
    E("rightOuterJoin(other, numPartitions=None)", "right_outer_join(other, num_partitions=numPartitions)"),
    E("sample(withReplacement, fraction, seed=None)", "sample(withReplacement, fraction, seed=seed)"),
    E("sampleStdev()", "sample_stdev()"),
    E("sampleVariance()", "sample_variance()"),
    E("saveAsPickleFile(path)", "save_as_pickle_file(path)"),
    E("saveAsTextFile(path)", "save_as_text_file(path)"),
    E("sortBy(keyfunc, ascending=True, numPartitions=None)",
      "sort_by(keyfunc, ascending=ascending, num_partitions=numPartitions)"),
    E("sortByKey(ascending=True, numPartitions=None, keyfunc=None)",
      "sort_by_key(ascending=ascending, num_partitions=numPartitions, key_func=keyfunc)"),
    E("stats()", "stats()", "A dstreams ``StatCounter`` (snake_case: ``sample_stdev()``)."),
    E("stdev()", "stdev()"),
    E("subtract(other, numPartitions=None)", "subtract(other, num_partitions=numPartitions)"),
    E("subtractByKey(other, numPartitions=None)", "subtract_by_key(other, num_partitions=numPartitions)"),
    E("sum()", "sum()"),
    E("take(num)", "take(num)"),
    E("takeOrdered(num, key=None)", "take_ordered(num, key=key)"),
    E("toLocalIterator(prefetchPartitions=False)", "to_local_iterator(prefetch_partitions=prefetchPartitions)"),
    E("top(num, key=None)", "top(num, key=key)"),
    E("treeReduce(f, depth=2)", "tree_reduce(f, depth=depth)"),
    E("union(other)", "union(other)"),
    E("unpersist()", "unpersist()"),
    E("values()", "values()"),
    E("variance()", "variance()"),
    E("zipWithIndex()", "zip_with_index()"),
]

_SETTINGS = "Kafka, socket and receiver streams take the rate settings of the SparkConf (see the guide)."

STREAMING_CONTEXT = [
    E("addStreamingListener(streamingListener)", "add_listener(streamingListener)",
      "A ``dstreams.pyspark.StreamingListener`` (camelCase events) or a dstreams one."),
    E("awaitTermination(timeout=None)", "await_termination(timeout=timeout)",
      "Raises the first failed batch's error as soon as there is one; the context keeps running."),
    E("awaitTerminationOrTimeout(timeout)", "await_termination(timeout=timeout)",
      "Returns True when stopped, False on timeout; raises a failed batch's error."),
    E("binaryRecordsStream(directory, recordLength)",
      "binary_records_stream(directory=directory, record_length=recordLength)"),
    E("checkpoint(directory)", "checkpoint(directory)"),
    E("getActive()", None, "A classmethod; the facade wrapping ``StreamingContext.get_active()``.",
      target="get_active()"),
    E("getActiveOrCreate(checkpointPath, setupFunc)", None,
      "A classmethod; PySpark's argument order (dstreams' ``get_active_or_create(setup, directory)``).",
      target="get_active_or_create(setup, directory)"),
    E("getOrCreate(checkpointPath, setupFunc)", None, "A classmethod.",
      target="get_or_create(directory, setup)"),
    E("queueStream(rdds, oneAtATime=True, default=None)",
      "queue_stream(batches=rdds, one_at_a_time=oneAtATime, default=default)",
      "``rdds`` may hold RDDs or lists of records."),
    E("remember(duration)", "remember(duration)"),
    E("socketTextStream(hostname, port, storageLevel=None)", None,
      "A receiver stream; a storage level with replication 1 keeps no replica of blocks. " + _SETTINGS,
      target="socket_text_stream(host, port, ...)"),
    E("sparkContext", None, "A property: the facade SparkContext.", target="client"),
    E("start()", None, "Stops the context at exit (gracefully with spark.streaming.stopGracefullyOnShutdown).",
      target="start()"),
    E("stop(stopSparkContext=True, stopGraceFully=False)", None,
      "``stopSparkContext`` closes the Dask client (and the cluster it made).", target="stop(stop_client, graceful)"),
    E("textFileStream(directory)", "text_file_stream(directory=directory)"),
    E("transform(dstreams, transformFunc)", "transform(streams=dstreams, func=rdd_fn(transformFunc))",
      "``transformFunc(rdds)`` or ``transformFunc(time, rdds)``."),
    E("union(*dstreams)", "union(*dstreams)"),
]

LISTENER = [E(f"{name}({arg})", None, "The event's getter gives the dstreams record.", target=target)
            for name, arg, target in [
                ("onBatchCompleted", "batchCompleted", "on_batch_completed (batchCompleted.batchInfo())"),
                ("onBatchStarted", "batchStarted", "on_batch_started (batchStarted.batchInfo())"),
                ("onBatchSubmitted", "batchSubmitted", "on_batch_submitted (batchSubmitted.batchInfo())"),
                ("onOutputOperationCompleted", "outputOperationCompleted",
                 "on_output_operation_completed (.outputOperationInfo())"),
                ("onOutputOperationStarted", "outputOperationStarted",
                 "on_output_operation_started (.outputOperationInfo())"),
                ("onReceiverError", "receiverError", "on_receiver_error (receiverError.receiverInfo())"),
                ("onReceiverStarted", "receiverStarted", "on_receiver_started (receiverStarted.receiverInfo())"),
                ("onReceiverStopped", "receiverStopped", "on_receiver_stopped (receiverStopped.receiverInfo())"),
                ("onStreamingStarted", "streamingStarted", "on_streaming_started (streamingStarted.time)"),
            ]]

TABLES = {"StreamingContext": STREAMING_CONTEXT, "DStream": DSTREAM, "StreamingListener": LISTENER, "RDD": RDD}


def render() -> str:
    """The Markdown tables of the Spark settings used and of every PySpark name the facade maps (the programming
    guide includes them between ``<!-- pyspark-names -->`` markers; a test checks they are current)."""
    from .conf import HONOURED

    lines = ["#### SparkConf settings used", "", "| setting | what it does here |", "|---|---|"]
    lines += [f"| `{key}` | {what} |" for key, what in HONOURED.items()]
    lines += ["", "Other settings are accepted, with one warning naming them.", ""]
    for cls, entries in TABLES.items():
        lines += [f"#### {cls}", "", "| PySpark | dstreams | difference |", "|---|---|---|"]
        for e in entries:
            call = e.call_text if e.call_text is not None else e.target
            lines.append(f"| `{cls}.{e.signature_text}` | `{call}` | {e.note} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render())
