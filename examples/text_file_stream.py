"""Count the lines of new files as they are moved into a watched directory.

``text_file_stream`` follows Spark's rules: a file is picked up by the first batch after its
modification time, once; names starting with ``.`` or ``_`` are ignored; so write each file somewhere
else and *move* it into the directory when it is complete. Here a writer thread does that with three
files while the stream runs (real clock, 0.5 s batches); a listener prints which files each batch read.

Run it with ``python examples/text_file_stream.py``; it finishes in a few seconds.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time

from dstreams import StreamingContext, StreamingListener

FILES = {
    "a.txt": ["first line", "second line", "third line"],
    "b.txt": ["one", "two"],
    "c.txt": ["alpha", "beta", "gamma", "delta"],
}
EXPECTED_LINES = sum(len(lines) for lines in FILES.values())


class FilesPerBatch(StreamingListener):
    """Prints the files each batch of the file stream read (from BatchInfo.input_info)."""

    def __init__(self, stream_id: int):
        self.stream_id = stream_id

    def on_batch_completed(self, info):
        files = info.input_info[self.stream_id].metadata["files"]
        if files:
            names = ", ".join(os.path.basename(f) for f in files)
            print(f"batch {info.batch_time:%H:%M:%S.%f}: read {names} in {info.processing_delay:.3f} s")


def write_files(staging: str, watched: str) -> None:
    """Write each file outside the watched directory, then move it in (an atomic rename)."""
    for name, lines in FILES.items():
        time.sleep(0.7)
        path = os.path.join(staging, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        os.replace(path, os.path.join(watched, name))


def main() -> None:
    lines_seen = 0
    all_seen = threading.Event()

    with tempfile.TemporaryDirectory() as watched, tempfile.TemporaryDirectory() as staging:
        with StreamingContext(batch_interval=0.5) as ssc:
            lines = ssc.text_file_stream(watched)
            ssc.add_listener(FilesPerBatch(lines.id))

            def report(batch_time, rdd):
                nonlocal lines_seen
                n = rdd.count()
                if n:
                    lines_seen += n
                    print(f"batch {batch_time:%H:%M:%S.%f}: {n} lines, {lines_seen} so far")
                if lines_seen >= EXPECTED_LINES:
                    all_seen.set()

            lines.foreach_rdd(report)
            ssc.start()
            writer = threading.Thread(target=write_files, args=(staging, watched))
            writer.start()
            ok = all_seen.wait(timeout=15)
            writer.join()
            ssc.stop(graceful=True)

    if not ok:
        raise SystemExit(f"saw {lines_seen} of {EXPECTED_LINES} lines within 15 s")
    print(f"total lines: {lines_seen} in {len(FILES)} files")


if __name__ == "__main__":
    main()
