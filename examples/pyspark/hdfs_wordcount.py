"""Counts the words of the new text files that appear in a directory (any fsspec URL: a local path, hdfs://,
s3://), every second (PySpark's hdfs_wordcount, ported by changing its imports).

Usage: hdfs_wordcount.py <directory> [<seconds to run>]

Files must be moved into the directory (written elsewhere first); those already there are left alone.
"""
import sys

from dstreams.pyspark import SparkContext, StreamingContext

if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        print("Usage: hdfs_wordcount.py <directory> [<seconds>]", file=sys.stderr)
        sys.exit(-1)
    sc = SparkContext(appName="PythonStreamingHDFSWordCount")
    ssc = StreamingContext(sc, 1)

    lines = ssc.textFileStream(sys.argv[1])
    counts = lines.flatMap(lambda line: line.split(" ")) \
                  .map(lambda x: (x, 1)) \
                  .reduceByKey(lambda a, b: a + b)
    counts.pprint()

    ssc.start()
    ssc.awaitTermination(float(sys.argv[2]) if len(sys.argv) == 3 else None)
    ssc.stop()
