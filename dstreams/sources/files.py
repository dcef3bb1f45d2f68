"""text_file_stream and binary_records_stream: new files in a directory (any fsspec URL), one batch at a time,
by Spark's rules.

A file belongs to the batch of time ``t`` when its modification time is in ``(threshold, t]`` and it was
not already taken: ``threshold`` is the later of the context's start (with ``new_files_only``) and
``t - remember`` (at least 60 s, Spark's ``minRememberDuration``). Files are read on the workers, one
partition per file. Names starting with ``.`` or ``_`` are ignored, as are files still being written
under such a temporary name: write elsewhere and move them into the directory. A text file's records are
its lines; a binary file's are its fixed-length slices.
"""
from __future__ import annotations

import datetime as _dt
import functools
import posixpath

import fsspec
from dask.highlevelgraph import HighLevelGraph

from .._compat import Task
from .._util import Records
from ..dstream.input import InputDStream
from ..rdd import RDD

MIN_REMEMBER_MS = 60_000


def read_text_lines(url: str) -> list[str]:
    with fsspec.open(url, "rt", encoding="utf-8") as fh:
        return Records(fh.read().splitlines())


def read_binary_records(record_length: int, url: str) -> list[bytes]:
    with fsspec.open(url, "rb") as fh:
        data = fh.read()
    if len(data) % record_length:
        raise ValueError(f"file {url} holds {len(data)} bytes, not a whole number of records of record_length "
                         f"{record_length}: its last {len(data) % record_length} bytes are not a record; write "
                         "whole records, or give the record length the files are written with")
    return Records(data[i:i + record_length] for i in range(0, len(data), record_length))


def _mtime_ms(info: dict) -> int | None:
    for k in ("mtime", "LastModified", "last_modified", "updated", "modified", "created"):
        v = info.get(k)
        if v is None:
            continue
        if isinstance(v, _dt.datetime):
            return int(v.timestamp() * 1000)
        if isinstance(v, str):
            try:
                return int(_dt.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() * 1000)
            except ValueError:
                continue
        return int(float(v) * 1000)
    return None


class FileInputDStream(InputDStream):
    """New text files in ``directory``: one record per line, one partition per file."""

    op = "text-file"
    call = "text_file_stream"
    recoverable = True

    def __init__(self, ssc, directory: str, new_files_only: bool = True, file_filter=None):
        super().__init__(ssc)
        self.fs, self.root = fsspec.core.url_to_fs(directory)
        if not self.fs.isdir(self.root):
            raise FileNotFoundError(
                f"{self.call} directory {directory!r} does not exist (or is not a directory); "
                "create it first, then move finished files into it"
            )
        self.directory = directory
        self.new_files_only = new_files_only
        self.file_filter = file_filter
        self.initial_threshold: int | None = None
        self.recent: dict[int, set[str]] = {}

    def start(self):
        if self.initial_threshold is None:  # not again after recovery from a checkpoint
            self.initial_threshold = self.ssc.clock.time_ms() if self.new_files_only else 0

    def snapshot(self):
        return {"initial_threshold": self.initial_threshold,
                "files_by_batch": {str(t): sorted(files) for t, files in sorted(self.recent.items())}}

    def restorable_reason(self):
        return None

    def restore(self, snapshot):
        """Resume with the files the old version took: they are not taken again."""
        self.initial_threshold = snapshot["initial_threshold"]
        self.recent = {int(t): set(files) for t, files in snapshot["files_by_batch"].items()}

    def remembers(self, time_ms):
        return time_ms in self.recent

    def _remember_ms(self):
        b = self.ssc.batch_ms
        return max(MIN_REMEMBER_MS, b) // b * b + (b if MIN_REMEMBER_MS % b else 0)

    def find_new_files(self, t: int) -> list[str]:
        threshold = max(self.initial_threshold, t - self._remember_ms())
        seen = set().union(*self.recent.values()) if self.recent else set()
        found = []
        for info in self.fs.ls(self.root, detail=True):
            if info.get("type") != "file":
                continue
            path = info["name"]
            base = posixpath.basename(path.rstrip("/"))
            if base.startswith((".", "_")) or path in seen:
                continue
            if self.file_filter is not None and not self.file_filter(path):
                continue
            mtime = _mtime_ms(info)
            if mtime is None:
                mtime = _mtime_ms(self.fs.info(path))
            if mtime is None or not (threshold < mtime <= t):
                continue
            found.append(path)
        found.sort()
        self.recent[t] = set(found)
        for old in [k for k in self.recent if k <= threshold]:
            del self.recent[old]
        return found

    def compute(self, t):
        # a batch rerun after recovery reads the files it had selected before
        files = sorted(self.recent[t]) if t in self.recent else self.find_new_files(t)
        self.report(t, 0, files=files)
        if not files:
            return RDD.empty(self.ssc.client, name=self.rdd_name(t, f"{self.op}-empty"))
        name = self.rdd_name(t)
        proto = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        urls = [p if proto in ("file", "local") else f"{proto}://{p}" for p in files]
        read = self.reader()
        layer = {(name, i): Task((name, i), read, url) for i, url in enumerate(urls)}
        graph = HighLevelGraph.from_collections(name, layer, dependencies=())
        return RDD(graph, name, len(urls), self.ssc.client)

    def reader(self):
        """The function that reads one file's records on a worker."""
        return read_text_lines


class BinaryRecordsInputDStream(FileInputDStream):
    """New binary files in ``directory``: records of ``record_length`` bytes, one partition per file."""

    op = "binary-records"
    call = "binary_records_stream"

    def __init__(self, ssc, directory: str, record_length: int, new_files_only: bool = True, file_filter=None):
        super().__init__(ssc, directory, new_files_only, file_filter)
        self.record_length = record_length

    def reader(self):
        return functools.partial(read_binary_records, self.record_length)
