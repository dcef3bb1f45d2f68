"""A stream made from a queue of RDDs, one RDD a second: the numbers 1 to 1000, counted by their last digit
(PySpark's queue_stream, ported by changing its imports). It stops by itself.
"""
import time

from dstreams.pyspark import SparkContext, StreamingContext

if __name__ == "__main__":
    sc = SparkContext(appName="PythonStreamingQueueStream")
    ssc = StreamingContext(sc, 1)

    # the RDDs pushed into the queue stream
    rddQueue = []
    for _ in range(5):
        rddQueue += [ssc.sparkContext.parallelize(list(range(1, 1001)), 10)]

    inputStream = ssc.queueStream(rddQueue)
    mappedStream = inputStream.map(lambda x: (x % 10, 1))
    reducedStream = mappedStream.reduceByKey(lambda a, b: a + b)
    reducedStream.pprint()

    ssc.start()
    time.sleep(3)
    ssc.stop(stopSparkContext=True, stopGraceFully=True)
