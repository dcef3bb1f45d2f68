"""The write-ahead log: framed records in rolling files, torn tails and missing files tolerated."""
import os

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from dstreams.sources.receiver.wal import WALError, WriteAheadLog, parse_name, read


def test_write_read_and_read_all_in_order(tmp_path):
    wal = WriteAheadLog(str(tmp_path / "log"), writer="a", roll_ms=1000)
    segs = [wal.write(f"record-{i}".encode(), time_ms=500 * i) for i in range(5)]
    assert [read(s) for s in segs] == [f"record-{i}".encode() for i in range(5)]
    assert [d for _, d in wal.read_all()] == [f"record-{i}".encode() for i in range(5)]
    assert [s for s, _ in wal.read_all()] == segs
    names = [parse_name(p)[:2] for p in wal.files()]
    assert names == [(0, 1000), (1000, 2000), (2000, 3000)]  # files named by time range, rolled


def test_torn_last_record_is_skipped(tmp_path):
    wal = WriteAheadLog(str(tmp_path), writer="a", roll_ms=10_000)
    first = wal.write(b"whole", time_ms=1)
    torn = wal.write(b"cut in the middle", time_ms=2)
    with open(torn.path, "r+b") as fh:  # a crash mid-write
        fh.truncate(torn.offset + 8 + 3)
    assert [d for _, d in wal.read_all()] == [b"whole"]
    assert read(first) == b"whole"
    with pytest.raises(WALError, match="torn"):
        read(torn)


def test_corrupt_record_and_missing_file(tmp_path):
    wal = WriteAheadLog(str(tmp_path), writer="a", roll_ms=1000)
    a = wal.write(b"in the first file", time_ms=10)
    b = wal.write(b"in the second file", time_ms=1500)
    files = wal.files()
    os.remove(a.path)
    assert [d for _, d in wal.read_all(files)] == [b"in the second file"]  # the listed file vanished
    with pytest.raises(WALError, match="missing"):
        read(a)
    with open(b.path, "r+b") as fh:
        fh.seek(b.offset + 8)
        fh.write(b"X")
    with pytest.raises(WALError, match="corrupt"):
        read(b)
    assert wal.read_all() == []


def test_clean_deletes_old_files_but_keeps_needed_ones(tmp_path):
    wal = WriteAheadLog(str(tmp_path), writer="a", roll_ms=1000)
    segs = [wal.write(b"x", time_ms=t) for t in (100, 1100, 2100, 3100)]
    deleted = wal.clean(3500, keep=[segs[1].path])
    assert sorted(deleted) == sorted([segs[0].path, segs[2].path])
    assert [s.path for s, _ in wal.read_all()] == [segs[1].path, segs[3].path]


def test_two_writers_never_share_a_file_and_memory_fs_works():
    a = WriteAheadLog("memory://wal-test/x", writer="a", roll_ms=1000)
    b = WriteAheadLog("memory://wal-test/x", writer="b", roll_ms=1000)
    s1, s2, s3 = a.write(b"1", 5), b.write(b"2", 6), a.write(b"3", 7)
    assert len({s1.path, s2.path, s3.path}) == 3  # no append on an object store: a file per record
    assert [parse_name(s.path)[:2] for s in (s1, s2, s3)] == [(0, 1000)] * 3
    assert read(s3) == b"3"
    assert sorted(d for _, d in a.read_all()) == [b"1", b"2", b"3"]
    a.fs.rm("/wal-test", recursive=True)


class CountingFileSystem(MemoryFileSystem):
    """``memory://`` that counts the bytes written and the files opened for reading."""

    protocol = ("countingmem",)
    written = 0
    reads = 0

    def _open(self, path, mode="rb", **kwargs):
        f = super()._open(path, mode, **kwargs)
        if "r" in mode:
            CountingFileSystem.reads += 1
        else:
            CountingFileSystem.written += len(kwargs.get("data") or b"")
            write = f.write

            def counted(data):
                CountingFileSystem.written += len(data)
                return write(data)

            f.write = counted
        return f


@pytest.fixture
def counting_fs():
    fsspec.register_implementation("countingmem", CountingFileSystem, clobber=True)
    CountingFileSystem.written = CountingFileSystem.reads = 0
    yield CountingFileSystem
    fs, root = fsspec.core.url_to_fs("countingmem://wal-cost")
    fs.rm(root, recursive=True)


@pytest.mark.parametrize("n", [10, 400])
def test_logging_to_an_object_store_costs_what_is_logged_and_recovery_reads_it_all(counting_fs, n):
    wal = WriteAheadLog("countingmem://wal-cost/log", writer="r-1", roll_ms=60_000)
    blocks = [f"block {i} ".encode() * 30 for i in range(n)]  # about 300 bytes each, in one time range
    segments = [wal.write(b, time_ms=1000 + i) for i, b in enumerate(blocks)]
    framed = sum(8 + len(b) for b in blocks)
    assert counting_fs.written == framed  # each record written once: linear in what is logged
    assert counting_fs.reads == 0  # and nothing read back to write it
    recovered = WriteAheadLog("countingmem://wal-cost/log", writer="driver")  # after a crash
    assert [d for _, d in recovered.read_all()] == blocks  # every record, in writing order
    assert [s for s, _ in recovered.read_all()] == segments
    assert [recovered.read(s) for s in segments[::7]] == blocks[::7]
