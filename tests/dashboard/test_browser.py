"""The Streaming page in a real browser: headless Chromium, driven by Playwright, reads the page of a running
stream from a real Dask scheduler, as a user would.

The browser is the system's Chromium (Debian's ``chromium`` package, or ``DSTREAMS_CHROMIUM``), else a
Chromium that ``playwright install chromium`` downloaded; without one the test is skipped, saying what to
install. A screenshot of every test's page goes to ``test-artifacts/`` (listed at the end of the run).
"""
from __future__ import annotations

import os
import re
import shutil

import pytest

from dstreams import StreamingContext
from dstreams.errors import BatchFailedError
from dstreams.testing import ManualClock, run_batches
from dstreams.userfuncs import short_path

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser test needs Playwright: pip install playwright (in the test extra)")
expect = sync_api.expect

INSTALL = "install Chromium (Debian: apt-get install chromium) or set DSTREAMS_CHROMIUM to a Chromium binary"
#: how long the page may take to show what the driver did: the reporter sends every 0.25 s, the page polls
#: every second
SHOWS_WITHIN_MS = 10_000


def chromium_path(playwright) -> str | None:
    """The browser to drive: ``DSTREAMS_CHROMIUM``, the system's Chromium, or Playwright's own download."""
    for candidate in (os.environ.get("DSTREAMS_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    try:
        own = playwright.chromium.executable_path
    except Exception:
        return None
    return own if own and os.access(own, os.X_OK) else None


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        path = chromium_path(playwright)
        if path is None:
            pytest.skip(f"the browser test needs Chromium: {INSTALL}")
        browser = playwright.chromium.launch(executable_path=path, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, request, artifact):
    """A fresh page, ``page.problems`` collecting the console's errors and the uncaught exceptions; a screenshot
    of it is saved when the test ends, passed or failed."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(f"console error: {m.text} ({m.location})"))
    page.on("pageerror", lambda e: page.problems.append(f"uncaught exception: {e}"))
    try:
        yield page
    finally:
        if page.problems:  # shown with a failure, whichever check failed first
            print("the browser reported:", *page.problems, sep="\n  ")
        try:
            page.screenshot(path=str(artifact(request.node.name + ".png")), full_page=True)
        finally:
            context.close()


def parse(x):
    if x < 0:
        raise ValueError(f"bad record {x}")
    return x


def card(page, label: str):
    """The value of the summary card labelled ``label``."""
    return page.locator("#summary .card").filter(has=page.locator(".label", has_text=re.compile(f"^{label}$"))) \
        .locator(".value")


def charts(page) -> list[dict]:
    """What each chart drew: the timeline's path, its dashed line, the histogram's bars, their sizes."""
    return page.evaluate("""() => [...document.querySelectorAll("#charts .timeline")].map(cell => {
        const svg = cell.querySelector("svg"), path = svg.querySelector("path.series"), box = path.getBBox();
        const limit = svg.querySelector("line.limit");
        const hist = cell.nextElementSibling.querySelector("svg");
        const view = svg.viewBox.baseVal;
        return {
            name: cell.dataset.name, d: path.getAttribute("d"),
            path: {x: box.x, y: box.y, width: box.width, height: box.height},
            points: svg.querySelectorAll("circle").length,
            limit: limit && {y: +limit.getAttribute("y1"), width: limit.getBBox().width},
            view: {width: view.width, height: view.height}, shown: {width: svg.clientWidth, height: svg.clientHeight},
            bars: [...hist.querySelectorAll("rect.bar")].map(r => r.getBBox().height),
            hist_shown: hist.clientWidth, hist_view: hist.viewBox.baseVal.width,
        };
    })""")


def test_the_streaming_page_in_a_browser(client, page, artifact):
    clock = ManualClock()
    ssc = StreamingContext(client, 1, clock=clock)

    def take(rdd):  # each record "takes" 50 ms of the manual clock: processing times the charts can draw (all of
        clock.advance(0.05 * rdd.count())  # them less than the 1 s interval: run_batches still runs one batch a time)

    ssc.queue_stream([[1, 2], [3], [4, 5, 6], [7, 8, 9, 10], [11, -1]]).named("numbers").map(parse).foreach_rdd(take)
    try:
        run_batches(ssc, 2)
        page.goto(ssc.runtime.dashboard_url)
        expect(card(page, "State")).to_have_text("running", timeout=SHOWS_WITHIN_MS)
        expect(card(page, "Batches completed")).to_have_text("2", timeout=SHOWS_WITHIN_MS)
        expect(page.locator("#recent tr:has(td)")).to_have_count(2)

        run_batches(ssc, 2)  # the open page follows the stream
        expect(card(page, "Batches completed")).to_have_text("4", timeout=SHOWS_WITHIN_MS)
        rows = page.locator("#recent tr:has(td)")
        expect(rows).to_have_count(4, timeout=SHOWS_WITHIN_MS)
        expect(rows.first.locator("td").nth(0)).to_have_text("1970-01-01 00:00:04.000")
        expect(rows.first.locator("td").nth(1)).to_have_text("completed")
        expect(rows.first.locator("td").nth(2)).to_have_text("4")
        expect(rows.first.locator("td").nth(4)).to_have_text("200 ms")  # processing time
        expect(rows.first.locator("td").nth(6)).to_have_text(
            re.compile(r"foreach_rdd at .*test_browser\.py:\d+ \(the function .*take at .*test_browser\.py:\d+\)"))
        expect(card(page, "Batch interval")).to_have_text("1.00 s")
        expect(card(page, "Records processed")).to_have_text("10")
        expect(card(page, "Input rate")).to_have_text("2.5 records/s")
        expect(card(page, "Batches failed")).to_have_text("0")
        expect(card(page, "Keeping up")).to_have_text("yes")
        expect(page.locator("#active")).to_have_text("none")
        expect(page.locator("#sources")).to_contain_text("numbers (queue): 10 records, 4 in the last batch")
        expect(page.locator("#charts-note")).to_have_text("(last 4; the dashed line is the batch interval)")

        drawn = charts(page)
        assert [c["name"] for c in drawn] == ["Input rate", "Scheduling delay", "Processing time", "Total delay"]
        for c in drawn:
            assert re.fullmatch(r"M[\d.]+,[\d.]+(L[\d.]+,[\d.]+){3}", c["d"]), c  # one point per batch
            assert c["points"] == 4 and c["path"]["width"] > 100, c
            # drawn at the size shown, so that nothing (the text) is stretched
            assert abs(c["view"]["width"] - c["shown"]["width"]) <= 1 and c["shown"]["height"] == c["view"]["height"], c
            assert abs(c["hist_view"] - c["hist_shown"]) <= 1, c
            assert len(c["bars"]) == 12 and sum(h > 0 for h in c["bars"]) >= 1 and c["hist_shown"] > 100, c
        by_name = {c["name"]: c for c in drawn}
        assert by_name["Input rate"]["limit"] is None
        for name in ("Scheduling delay", "Processing time", "Total delay"):
            limit = by_name[name]["limit"]
            assert limit is not None and limit["width"] > 100, by_name[name]
            # every delay (at most 0.2 s) is drawn below the dashed 1 s line (a smaller y is higher)
            assert 8 <= limit["y"] < by_name[name]["path"]["y"], by_name[name]
        for name in ("Input rate", "Processing time", "Total delay"):  # 2, 1, 3, 4 records: not a flat line
            assert by_name[name]["path"]["height"] > 10, by_name[name]
        bars = by_name["Processing time"]["bars"]  # 0.1, 0.05, 0.15 and 0.2 s in 12 bins up to the 1 s interval
        assert [h / max(bars) for h in bars] == [0.5, 1, 0.5] + [0] * 9

        with pytest.raises(BatchFailedError):
            run_batches(ssc, 1)  # the record -1 makes parse raise: the batch fails and stops the stream
        expect(card(page, "State")).to_have_text("failed", timeout=SHOWS_WITHIN_MS)
        expect(card(page, "Batches failed")).to_have_text("1", timeout=SHOWS_WITHIN_MS)
        expect(card(page, "Stopped by")).to_contain_text("BatchFailedError: batch 1970-01-01 00:00:05")
        failed = page.locator("#recent tr:has(td)").first
        expect(failed.locator("td").nth(1)).to_have_text("failed")
        here, first = short_path(parse.__code__.co_filename), parse.__code__.co_firstlineno
        expect(failed.locator("td.failure")).to_have_text(re.compile(  # where it raised, and the user's call
            re.escape(f"ValueError: bad record -1, in parse ({here}:{first + 2}), in map at {here}:") + r"\d+"
            + re.escape(f" (the function parse at {here}:{first})")))
        expect(page.locator("#runs option").first).to_contain_text(f"{ssc.run_id} - failed")
    finally:
        ssc.stop(stop_client=False)
    page.screenshot(path=str(artifact("streaming-page-failed-run.png")), full_page=True)

    # a stopped run's page stays still (its text can be selected, the run menu stays open): two more polls
    # leave the same elements in place
    page.evaluate("() => { document.querySelector('#recent table').dataset.kept = 'yes';"
                  " document.querySelector('#runs option').dataset.kept = 'yes'; }")
    for _ in range(2):
        with page.expect_response(lambda r: "/data.json" in r.url, timeout=SHOWS_WITHIN_MS):
            pass
    assert page.evaluate("() => document.querySelectorAll('[data-kept=yes]').length") == 2

    page.set_viewport_size({"width": 700, "height": 900})  # a narrow window: the charts shrink, nothing overflows
    page.wait_for_function("() => document.querySelector('#charts .timeline svg').clientWidth < 500",
                           timeout=SHOWS_WITHIN_MS)
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth")
    for c in charts(page):
        assert c["shown"]["width"] > 250 and c["hist_shown"] > 150, c
        assert abs(c["view"]["width"] - c["shown"]["width"]) <= 1 and abs(c["hist_view"] - c["hist_shown"]) <= 1, c
    assert page.problems == []
