"""Output operations: pprint, save_as_text_files, save_as_pickle_files, foreach_rdd with time."""
import datetime
import pickle

from dstreams.testing import run_batches


def test_pprint_prints_time_header_and_first_records(ssc, capsys):
    ssc.queue_stream([list(range(12)), [1]]).pprint(num=10)
    run_batches(ssc, 2)
    out = capsys.readouterr().out
    assert f"Time: {datetime.datetime.fromtimestamp(1)}" in out
    assert "\n9\n...\n" in out and "\n10\n" not in out
    assert out.count("-------------------------------------------") == 4


def test_foreach_rdd_with_time_gets_a_datetime(ssc):
    times = []
    ssc.queue_stream([[1], [2]]).foreach_rdd(lambda t, rdd: times.append(t))
    run_batches(ssc, 2)
    assert times == [datetime.datetime.fromtimestamp(1), datetime.datetime.fromtimestamp(2)]


def test_save_as_text_files(ssc, tmp_path):
    ssc.queue_stream([["a", "b"], ["c"]]).save_as_text_files(str(tmp_path / "out"), "txt")
    run_batches(ssc, 2)
    dirs = sorted(p.name for p in tmp_path.iterdir())
    assert dirs == ["out-1000.txt", "out-2000.txt"]
    lines = sorted(line for p in (tmp_path / "out-1000.txt").glob("part-*") for line in p.read_text().split())
    assert lines == ["a", "b"]


def test_save_as_pickle_files(ssc, tmp_path):
    ssc.queue_stream([[("a", 1), {"b": [2]}], []]).save_as_pickle_files(str(tmp_path / "out"))
    run_batches(ssc, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out-1000", "out-2000"]
    records = [r for p in sorted((tmp_path / "out-1000").glob("part-*")) for r in pickle.loads(p.read_bytes())]
    assert records == [("a", 1), {"b": [2]}] and (tmp_path / "out-2000" / "_SUCCESS").exists()
