"""The Kafka examples run end to end (each starts its own dev broker), as `make demo` does."""
import re
import subprocess
import sys
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_kafka_wordcount_demo_counts_exactly_what_was_produced():
    proc = subprocess.run([sys.executable, str(EXAMPLES / "kafka_wordcount.py"), "--batches", "3",
                           "--interval", "0.5"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "started a dev Kafka broker at 127.0.0.1:" in proc.stdout
    assert "words[3] offsets 0.." in proc.stdout  # a 4-partition topic, read from the start
    assert "counted exactly what was produced" in proc.stdout and ": yes" in proc.stdout


#: the example notebooks, each run by a test here (tests/test_examples.py checks none is left out)
NOTEBOOKS = ("streaming_notebook.ipynb",)


def test_streaming_notebook_counts_and_shows_output_under_the_starting_cell(tmp_path):
    import nbformat

    from tests import notebooks

    nb = nbformat.read(EXAMPLES / "streaming_notebook.ipynb", as_version=4)
    started = time.monotonic()
    run = notebooks.run(nb, tmp_path, timeout=60)  # a cell that raises fails the test here
    took = time.monotonic() - started
    nbformat.write(run.nb, tmp_path / "streaming_notebook.executed.ipynb")  # to look at when this fails
    cells = {cell.metadata["tags"][0]: cell for cell in run.nb.cells if cell.metadata.get("tags")}
    start = cells["start"]
    printed = notebooks.stream_text(start, "stdout")
    assert printed.count("\nTime: ") + printed.startswith("Time: ") >= 2 and "('partition', " in printed, printed
    shown = [out for out in start.outputs if out["output_type"] == "execute_result"]
    assert len(shown) == 1 and '/streaming" target="_blank"' in shown[0]["data"]["text/html"]
    assert "<StreamingContext active" in shown[0]["data"]["text/plain"]
    for tag, cell in cells.items():  # pprint output nowhere but under the cell that started the context
        if tag != "start":
            assert "Time: " not in notebooks.text_of(cell), (tag, notebooks.text_of(cell))
    assert "Lineage" in notebooks.text_of(cells["lineage"]) and "kafka" in notebooks.text_of(cells["lineage"])
    counted = re.search(r"counted (\d+) of (\d+) words sent", notebooks.text_of(cells["counts"]))
    assert counted and counted[1] == counted[2] and int(counted[1]) > 2000, notebooks.text_of(cells["counts"])
    batches = int(re.search(r"stopped after (\d+) batches; active now: None", notebooks.text_of(cells["stop"]))[1])
    status = cells["status"]  # one display, redrawn in place up to the stop
    assert [out["output_type"] for out in status.outputs] == ["display_data"]
    assert "<StreamingContext stopped" in status.outputs[0]["data"]["text/plain"]
    assert f"<th>Batches</th><td>{batches} completed, 0 failed" in status.outputs[0]["data"]["text/html"]
    assert "scheduling_delay" in notebooks.text_of(cells["history"])
    plot = cells["plot"]
    assert any("image/png" in out.get("data", {}) for out in plot.outputs) or "total_delay" in notebooks.text_of(plot)
    assert took < 30, f"the notebook took {took:.1f} s; keep it under 30 s"
