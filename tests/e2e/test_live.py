"""The live page at /live, in a real headless browser: replicas appear and leave as `make scale` runs."""

import time

import pytest

from helpers.browser import Browser
from helpers.stack import assert_kept
from helpers.support import ROOT, wait_for

pytestmark = pytest.mark.e2e

SCREENSHOT = ROOT / "reports" / "tests" / "live.png"  # next to the test run's other reports


def serving(browser):
    """(the "replicas serving" figure, the names in the table that are not marked as left)."""
    names = browser.run(
        "return [...document.querySelectorAll('#shares tbody tr:not(.left) td:first-child')]"
        ".map((cell) => cell.textContent)"
    )
    return browser.text("replicas"), set(names)


def test_the_live_page_shows_replicas_coming_and_going_under_load(shared_stack):
    stack = shared_stack
    stack.make("scale", "SCALE=2")
    before = stack.count()
    browser = Browser()
    seen = {}

    def watch():
        browser.open(f"http://127.0.0.1:{stack.port}/live")
        for replicas in (2, 3, 2):
            stack.make("scale", f"SCALE={replicas}")
            names = stack.replica_names()
            shown = (str(replicas), names)
            wait_for(lambda shown=shown: serving(browser) == shown, 30, f"{replicas} replicas shown", 0.5)
            seen[replicas] = names
            if replicas == 3:
                time.sleep(3)  # a few seconds of three on the chart
                browser.screenshot(SCREENSHOT)

    try:
        result = stack.load(clients=8, after=3, during=watch)
        # Within a second or two of the load's end the page shows the counter's total.
        total = f"{stack.count():,}"  # before + result.successes: assert_exact below
        wait_for(lambda: browser.text("total") == total, 10, f"the total {total} shown", 0.5)
    finally:
        browser.close()
    assert len(seen[3]) == 3 and seen[3] > seen[2]
    assert SCREENSHOT.read_bytes().startswith(b"\x89PNG")
    assert result.failed_by_the_stack() == [], (result.attempts, result.stalls, stack.lb_log())
    assert_kept(stack, result, before)
