"""Word count over a queue stream, in real time, on an in-process Dask LocalCluster.

Three batches of lines are queued; every 0.5 s the context takes the next one, counts its words on the
cluster and prints them (``pprint``). Once the three batches have run, it stops gracefully and prints
the counts summed over all batches.

Run it with ``python examples/wordcount_queue.py``; it finishes in a few seconds.
"""
from __future__ import annotations

import collections
import operator
import threading

from dstreams import StreamingContext

BATCHES = [
    ["the quick brown fox", "jumps over the lazy dog"],
    ["the dog barks", "the fox runs away"],
    ["a quick word count"],
]


def main() -> None:
    totals: collections.Counter = collections.Counter()
    batches_seen = 0
    all_seen = threading.Event()

    # client=None: the context starts an in-process LocalCluster, and closes it on stop()
    with StreamingContext(batch_interval=0.5) as ssc:
        print(ssc)
        lines = ssc.queue_stream(BATCHES)
        counts = lines.flat_map(str.split).map(lambda w: (w, 1)).reduce_by_key(operator.add)
        counts.cache()  # two output operations below: compute each batch once

        counts.pprint()

        def add_to_totals(rdd):
            nonlocal batches_seen
            totals.update(dict(rdd.collect()))
            batches_seen += 1
            if batches_seen >= len(BATCHES):
                all_seen.set()

        counts.foreach_rdd(add_to_totals)

        ssc.start()  # returns at once; batches run on background threads
        if not all_seen.wait(timeout=15):
            raise SystemExit(f"only {batches_seen} of {len(BATCHES)} batches ran within 15 s")
        ssc.stop(graceful=True)  # finish the batches already generated, then stop (and close the cluster)

    print("word counts over all batches:")
    for word, n in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {word}: {n}")


if __name__ == "__main__":
    main()
