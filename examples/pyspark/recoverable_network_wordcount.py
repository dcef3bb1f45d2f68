"""Word counts of the lines a TCP server sends, leaving out a list of words, appended to a file; the context
is checkpointed and recovered from its checkpoint when the program runs again (PySpark's
recoverable_network_wordcount without its accumulator, ported by changing its imports). Received lines are
written to a log in the checkpoint directory (``spark.streaming.receiver.writeAheadLog.enable``): dstreams
refuses to recover a receiver stream whose blocks would be lost, where Spark recovers without them.

Usage: recoverable_network_wordcount.py <hostname> <port> <checkpoint-directory> <output-file> [<seconds>]

Run it, stop it, run it again: the second run prints no "Creating new context" and goes on from the checkpoint.
"""
import os
import sys

from dstreams.pyspark import SparkConf, SparkContext, StreamingContext


def getWordExcludeList(sparkContext):
    """The words left out, broadcast once per process."""
    if "wordExcludeList" not in globals():
        globals()["wordExcludeList"] = sparkContext.broadcast(["a", "b", "c"])
    return globals()["wordExcludeList"]


def createContext(host, port, outputPath):
    # Called only when there is no checkpoint to recover from
    print("Creating new context")
    if os.path.exists(outputPath):
        os.remove(outputPath)
    conf = SparkConf().set("spark.streaming.receiver.writeAheadLog.enable", "true")
    sc = SparkContext(appName="PythonStreamingRecoverableNetworkWordCount", conf=conf)
    ssc = StreamingContext(sc, 1)

    lines = ssc.socketTextStream(host, port)
    wordCounts = lines.flatMap(lambda line: line.split(" ")).map(lambda x: (x, 1)).reduceByKey(lambda a, b: a + b)

    def echo(time, rdd):
        excludeList = getWordExcludeList(rdd.context)
        counts = sorted(rdd.filter(lambda wordCount: wordCount[0] not in excludeList.value).collect())
        line = "Counts at time %s %s" % (time, counts)
        print(line)
        print("Appending to " + os.path.abspath(outputPath))
        with open(outputPath, "a") as f:
            f.write(line + "\n")

    wordCounts.foreachRDD(echo)
    return ssc


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6):
        print("Usage: recoverable_network_wordcount.py <hostname> <port> <checkpoint-directory> <output-file> "
              "[<seconds>]", file=sys.stderr)
        sys.exit(-1)
    host, port, checkpoint, output = sys.argv[1:5]
    ssc = StreamingContext.getOrCreate(checkpoint, lambda: createContext(host, int(port), output))
    ssc.start()
    ssc.awaitTermination(float(sys.argv[5]) if len(sys.argv) == 6 else None)
    ssc.stop()
