"""Makes docs/images/streaming-page.png: the Streaming page of a word count after ~10 s of 0.2 s batches.

Needs Playwright (in the test extra) and Chromium (Debian: apt-get install chromium)::

    python docs/images/streaming_page.py [path/to/chromium]
"""
import json
import random
import sys
import time
import urllib.request
from pathlib import Path

from distributed import Client, LocalCluster
from playwright.sync_api import sync_playwright

from dstreams import StreamingContext

OUT = Path(__file__).with_name("streaming-page.png")
WORDS = "the quick brown fox jumps over the lazy dog while a stream of events flows past".split()

# the application's functions, compiled as a file of their own so that the picture names them as a user's
# (the page shows each output operation's function, file and line), not the path of this checkout
APP = '''
def words(line):
    return line.split()

def add(a, b):
    return a + b

def top_words(rdd):
    return sorted(rdd.collect(), key=lambda kv: -kv[1])[:10]

def count_lines(rdd):
    return rdd.collect()
'''
app: dict = {}
exec(compile(APP, "wordcount.py", "exec"), app)


def completed(url: str, run: str) -> int:
    with urllib.request.urlopen(f"{url}/data.json?run={run}", timeout=10) as r:
        view = json.load(r)["run"]
    return 0 if view is None else view["batches_completed"] + view["batches_failed"]


def main(chromium: str = "/usr/bin/chromium") -> None:
    rnd = random.Random(11)
    # a rate that swells and falls, with a few bursts: some batches take longer than others
    sizes = [800 + 60 * abs(i % 20 - 10) + rnd.randint(-150, 150) + (4000 if i in (17, 18, 41) else 0)
             for i in range(80)]
    batches = [[" ".join(rnd.choices(WORDS, k=8)) for _ in range(n)] for n in sizes]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        ssc = StreamingContext(client, 0.2)
        lines = ssc.queue_stream(batches).named("events")
        counts = lines.flat_map(app["words"]).map(lambda w: (w, 1)).reduce_by_key(app["add"], 4)
        counts.foreach_rdd(app["top_words"])
        lines.count().foreach_rdd(app["count_lines"])
        ssc.start()
        try:
            url, deadline = ssc.runtime.dashboard_url, time.monotonic() + 60
            while completed(url, ssc.run_id) < 50:  # a real run: ~10 s, and more batches to come
                assert time.monotonic() < deadline, "the stream did not run its batches within 60 s"
                time.sleep(0.5)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium)
                page = browser.new_page(viewport={"width": 1280, "height": 1150})
                page.goto(ssc.runtime.dashboard_url)
                page.wait_for_selector("#recent td")
                page.wait_for_function("() => document.querySelectorAll('#charts circle').length == 0")
                page.screenshot(path=str(OUT), full_page=False)
                browser.close()
        finally:
            ssc.stop(stop_client=False)
    print(f"saved {OUT}")


if __name__ == "__main__":
    main(*sys.argv[1:])
