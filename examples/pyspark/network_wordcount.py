"""Counts the words of the lines a TCP server sends, every second (PySpark's network_wordcount, ported by
changing its imports).

Usage: network_wordcount.py <hostname> <port> [<seconds to run>]

Start a line server first, ``nc -lk 9999``, then ``python examples/pyspark/network_wordcount.py localhost 9999``
and type lines. Without the third argument it runs until interrupted.
"""
import sys

from dstreams.pyspark import SparkContext, StreamingContext

if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        print("Usage: network_wordcount.py <hostname> <port> [<seconds>]", file=sys.stderr)
        sys.exit(-1)
    sc = SparkContext(appName="PythonStreamingNetworkWordCount")
    ssc = StreamingContext(sc, 1)

    lines = ssc.socketTextStream(sys.argv[1], int(sys.argv[2]))
    counts = lines.flatMap(lambda line: line.split(" ")) \
                  .map(lambda word: (word, 1)) \
                  .reduceByKey(lambda a, b: a + b)
    counts.pprint()

    ssc.start()
    ssc.awaitTermination(float(sys.argv[3]) if len(sys.argv) == 4 else None)
    ssc.stop()
