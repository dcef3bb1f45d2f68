"""`make bench`: every benchmark, one after the other, each printing its own figures and ratios."""
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = ["engine.py", "kafka_throughput.py", "socket_throughput.py", "recovery.py", "dashboard_overhead.py",
              "soak.py"]

if __name__ == "__main__":
    for name in BENCHMARKS:
        path = HERE / name
        if not path.exists():
            continue
        print(f"==== {name}", flush=True)
        sys.argv = [str(path)]
        runpy.run_path(str(path), run_name="__main__")
