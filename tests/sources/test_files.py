"""text_file_stream: Spark's rules for which files belong to a batch, on a manual clock."""
import os

import pytest

from dstreams.testing import run_batches


def write(path, lines, mtime_ms):
    tmp = path.parent / ("." + path.name)
    tmp.write_text("".join(f"{x}\n" for x in lines))
    os.utime(tmp, (mtime_ms / 1000, mtime_ms / 1000))
    tmp.rename(path)


def test_new_files_become_batches(ssc, tmp_path):
    ssc.clock.set_time_ms(10_000)
    write(tmp_path / "old.txt", ["old"], 9_000)  # existed before start: ignored (new_files_only)
    out = []
    ssc.text_file_stream(str(tmp_path)).foreach_rdd(lambda rdd: out.append(sorted(rdd.collect())))
    ssc.start()
    write(tmp_path / "a.txt", ["a1", "a2"], 10_500)
    write(tmp_path / "b.txt", ["b1"], 11_000)
    write(tmp_path / "_tmp.txt", ["ignored"], 11_000)
    write(tmp_path / "c.txt", ["c1"], 11_700)
    run_batches(ssc, 1)  # batch 11 s: (10 s, 11 s]
    run_batches(ssc, 1)  # batch 12 s: (10 s, 12 s] minus files already taken
    run_batches(ssc, 1)  # nothing new
    assert out == [["a1", "a2", "b1"], ["c1"], []]


def test_file_with_future_mtime_waits_for_its_batch(ssc, tmp_path):
    out = []
    ssc.text_file_stream(str(tmp_path)).foreach_rdd(lambda rdd: out.append(rdd.collect()))
    ssc.start()
    write(tmp_path / "later.txt", ["x"], 2_500)
    run_batches(ssc, 3)
    assert out == [[], [], ["x"]]


def test_missing_directory_is_a_clear_error(ssc, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*create it first"):
        ssc.text_file_stream(str(tmp_path / "nope"))


def test_binary_records_stream_cuts_new_files_into_fixed_length_records(ssc, tmp_path):
    out = []
    ssc.binary_records_stream(str(tmp_path), 3).foreach_rdd(lambda rdd: out.append(sorted(rdd.collect())))
    ssc.start()
    write_bytes(tmp_path / "a.bin", b"abcdefghi", 500)
    write_bytes(tmp_path / "b.bin", b"", 700)
    write_bytes(tmp_path / "c.bin", b"xyz", 1_500)
    run_batches(ssc, 2)
    assert out == [[b"abc", b"def", b"ghi"], [b"xyz"]]


def test_a_binary_file_with_a_partial_record_fails_its_batch_naming_it(ssc, tmp_path):
    from dstreams import BatchFailedError

    ssc.binary_records_stream(str(tmp_path), 4).count().pprint()
    ssc.start()
    write_bytes(tmp_path / "torn.bin", b"abcdef", 500)
    with pytest.raises(BatchFailedError, match=r"torn\.bin holds 6 bytes, not a whole number of records of "
                                               r"record_length 4: its last 2 bytes"):
        run_batches(ssc, 1)


def write_bytes(path, data, mtime_ms):
    tmp = path.parent / ("." + path.name)
    tmp.write_bytes(data)
    os.utime(tmp, (mtime_ms / 1000, mtime_ms / 1000))
    tmp.rename(path)
