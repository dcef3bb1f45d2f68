"""Running word counts, since the start, of the lines a TCP server sends (PySpark's
stateful_network_wordcount, ported by changing its imports). The counts start from ``hello: 1, world: 1``.

Usage: stateful_network_wordcount.py <hostname> <port> [<seconds to run>]
"""
import sys

from dstreams.pyspark import SparkContext, StreamingContext

if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        print("Usage: stateful_network_wordcount.py <hostname> <port> [<seconds>]", file=sys.stderr)
        sys.exit(-1)
    sc = SparkContext(appName="PythonStreamingStatefulNetworkWordCount")
    ssc = StreamingContext(sc, 1)
    ssc.checkpoint("checkpoint")

    initialStateRDD = sc.parallelize([("hello", 1), ("world", 1)])

    def updateFunc(new_values, last_sum):
        return sum(new_values) + (last_sum or 0)

    lines = ssc.socketTextStream(sys.argv[1], int(sys.argv[2]))
    running_counts = lines.flatMap(lambda line: line.split(" ")) \
                          .map(lambda word: (word, 1)) \
                          .updateStateByKey(updateFunc, initialRDD=initialStateRDD)
    running_counts.pprint()

    ssc.start()
    ssc.awaitTermination(float(sys.argv[3]) if len(sys.argv) == 4 else None)
    ssc.stop()
