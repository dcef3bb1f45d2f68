"""The write-ahead log: framed records in rolling files, torn tails and missing files tolerated."""
import os

import pytest

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
    assert s1.path != s2.path and s1.path == s3.path
    assert read(s3) == b"3"
    assert sorted(d for _, d in a.read_all()) == [b"1", b"2", b"3"]
    a.fs.rm("/wal-test", recursive=True)
