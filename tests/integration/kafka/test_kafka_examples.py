"""The Kafka examples run end to end (each starts its own dev broker), as `make demo` does."""
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_kafka_wordcount_demo_counts_exactly_what_was_produced():
    proc = subprocess.run([sys.executable, str(EXAMPLES / "kafka_wordcount.py"), "--batches", "3",
                           "--interval", "0.5"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "started a dev Kafka broker at 127.0.0.1:" in proc.stdout
    assert "words[3] offsets 0.." in proc.stdout  # a 4-partition topic, read from the start
    assert "counted exactly what was produced" in proc.stdout and ": yes" in proc.stdout
