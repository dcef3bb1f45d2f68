"""A rolling-file write-ahead log (after Spark's ``FileBasedWriteAheadLog``), through fsspec.

On a local file system records are appended to files named by the time range they cover and by
their writer, ``log-<start ms>-<end ms>-<writer>``; a new file starts once the current one's range is
over, and every write is flushed and fsynced before :meth:`WriteAheadLog.write` returns. Object stores
(S3, GCS, ``memory://``, ...) cannot append: there each write is a file of its own,
``log-<start ms>-<end ms>-<writer>.<sequence number>``, complete once ``write`` returns, so that writing N
records costs N writes of their own size (rewriting one file per record would cost N² / 2), as Spark's
``closeFileAfterWrite`` does on S3. Each record is framed as ``length (4 bytes, big-endian) + CRC32 of
the data (4 bytes) + data``. A write returns a :class:`Segment` (path, offset of the frame, data
length) to read the record back with :func:`read`.

Reading tolerates what a crash leaves: :meth:`WriteAheadLog.read_all` returns every fully written
record, in order, stopping at a torn last record of a file, and skips a file deleted meanwhile.
"""
from __future__ import annotations

import os
import struct
import threading
import zlib
from typing import NamedTuple

import fsspec

from ...errors import WALError

HEADER = struct.Struct(">II")  # data length, CRC32 of the data
PREFIX = "log-"
ROLL_MS = 60_000  #: default time range of one log file


class Segment(NamedTuple):
    """Where one record is: its file, the offset of its frame, the length of its data."""

    path: str
    offset: int
    length: int


def parse_name(path: str) -> tuple[int, int, str] | None:
    """``(start ms, end ms, writer)`` of a log file's name, None when it is not a log file (on object
    stores the writer is followed by ``.<sequence number>``)."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if not name.startswith(PREFIX):
        return None
    parts = name[len(PREFIX):].split("-", 2)
    if len(parts) < 2:
        return None
    try:
        start, end = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return start, end, parts[2] if len(parts) > 2 else ""


def _frame(data: bytes) -> bytes:
    return HEADER.pack(len(data), zlib.crc32(data)) + data


def _records(raw: bytes, path: str):
    """``(Segment, data)`` of every whole, intact record in ``raw``; stops at a torn or corrupt tail."""
    pos = 0
    while pos + HEADER.size <= len(raw):
        length, crc = HEADER.unpack_from(raw, pos)
        start = pos + HEADER.size
        data = raw[start:start + length]
        if len(data) < length or zlib.crc32(data) != crc:
            return  # a crash mid-write: what follows cannot be trusted
        yield Segment(path, pos, length), data
        pos = start + length


def read(segment, fs=None) -> bytes:
    """The data of the record at ``segment`` (a :class:`Segment` or ``(path, offset, length)``)."""
    path, offset, length = segment
    if fs is None:
        fs, path = fsspec.core.url_to_fs(path)
    try:
        with fs.open(path, "rb") as fh:
            fh.seek(offset)
            raw = fh.read(HEADER.size + length)
    except FileNotFoundError as e:
        raise WALError(f"write-ahead log file {path} is missing: it was cleaned up or never written") from e
    if len(raw) < HEADER.size:
        raise WALError(f"write-ahead log record at {path}:{offset} is torn (file too short)")
    n, crc = HEADER.unpack_from(raw)
    data = raw[HEADER.size:]
    if n != length or len(data) != length or zlib.crc32(data) != crc:
        raise WALError(f"write-ahead log record at {path}:{offset} is torn or corrupt (length or CRC mismatch)")
    return data


class WriteAheadLog:
    """A log in ``directory`` (any fsspec URL); ``writer`` tells apart the files of concurrent writers.

    Parameters
    ----------
    directory : str
        Where the log files are; created when missing.
    writer : str
        A name unique to this writer (no ``/``): two writers never write to one file.
    roll_ms : int, optional
        Time range of one file (default :data:`ROLL_MS`); a write after it starts a new file.
    clock : callable
        Current time in ms (default: wall clock), used to name and roll files.
    """

    def __init__(self, directory: str, writer: str = "w", roll_ms: int | None = None, clock=None):
        self.directory = directory.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.directory)
        self.root = self.root.rstrip("/")
        self.writer = writer.replace("/", "_")
        self.roll_ms = int(ROLL_MS if roll_ms is None else roll_ms)
        self.clock = clock or (lambda: int(__import__("time").time() * 1000))
        self._lock = threading.Lock()
        self._current: tuple[str, int, int] | None = None  # (path, end ms, size)
        self._seq = 0  # the number of the last file written, where each write is a file (object stores)
        self._local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        self.fs.makedirs(self.root, exist_ok=True)

    def write(self, data: bytes, time_ms: int | None = None) -> Segment:
        """Write ``data`` as one record; returns once it is durable (fsynced on local files, a whole
        object of its own on object stores)."""
        time_ms = self.clock() if time_ms is None else int(time_ms)
        frame = _frame(bytes(data))
        with self._lock:
            if self._current is None or time_ms >= self._current[1] or not self._local:
                start = time_ms - time_ms % self.roll_ms if self.roll_ms > 0 else time_ms
                end = start + max(self.roll_ms, 1)
                name = f"{self.root}/{PREFIX}{start}-{end}-{self.writer}"
                if not self._local:
                    self._seq += 1
                    name = f"{name}.{self._seq:012d}"  # sorts in writing order
                self._current = (name, end, 0)
            path, end, _ = self._current
            if self._local:
                with open(path, "ab") as fh:
                    offset = fh.tell()
                    fh.write(frame)
                    fh.flush()
                    os.fsync(fh.fileno())
            else:  # no append on object stores: the record is a file of its own, complete when closed
                offset = 0
                with self.fs.open(path, "wb") as fh:
                    fh.write(frame)
            self._current = (path, end, offset + len(frame))
        return Segment(self._url(path), offset, len(frame) - HEADER.size)

    def _url(self, path: str) -> str:
        return path if self._local else self.fs.unstrip_protocol(path)

    def read(self, segment) -> bytes:
        """The data of one record (see :func:`read`)."""
        path = segment[0]
        return read((self.fs._strip_protocol(path), segment[1], segment[2]), self.fs)

    def files(self) -> list[str]:
        """The log files, oldest first (by start time, then writer)."""
        try:
            paths = self.fs.ls(self.root, detail=False)
        except FileNotFoundError:
            return []
        named = [(parse_name(p), p) for p in paths]
        return [p for n, p in sorted((n, p) for n, p in named if n is not None)]

    def read_all(self, files=None):
        """``[(Segment, data)]`` of every fully written record, in order; torn tails and missing files
        are skipped."""
        out = []
        for path in self.files() if files is None else files:
            try:
                raw = self.fs.cat_file(path)
            except FileNotFoundError:
                continue
            out.extend((Segment(self._url(path), s.offset, s.length), d) for s, d in _records(raw, path))
        return out

    def clean(self, threshold_ms: int, keep=()) -> list[str]:
        """Delete the files whose time range ended before ``threshold_ms``, except those in ``keep``
        (paths still needed); returns the deleted paths."""
        keep = {self.fs._strip_protocol(p) for p in keep}
        deleted = []
        with self._lock:
            current = self._current[0] if self._current else None
        for path in self.files():
            start_end = parse_name(path)
            if start_end[1] >= threshold_ms or path in keep or path == current:
                continue
            try:
                self.fs.rm(path)
            except FileNotFoundError:
                pass
            deleted.append(self._url(path))
        return deleted

    def close(self) -> None:
        with self._lock:
            self._current = None
