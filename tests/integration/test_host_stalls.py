"""The tests' watch for stalls of the host: it sees a real one, and excuses only what falls near it."""

import json
import os
import signal
import subprocess
import sys
import time

from helpers import load_client
from helpers.host_stalls import AFTERMATH
from helpers.support import ROOT

WATCH_FOR_3_S = """
import json, time
from helpers.host_stalls import StallWatch
watch = StallWatch().start()
print("watching", flush=True)
time.sleep(3)
print(json.dumps(watch.stop()))
"""


def test_a_process_stopped_for_a_second_is_seen_as_one_stall_of_that_length():
    watcher = subprocess.Popen(
        [sys.executable, "-c", WATCH_FOR_3_S],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT / "tests")),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert watcher.stdout.readline() == "watching\n"
    time.sleep(0.5)
    watcher.send_signal(signal.SIGSTOP)  # as a host that gives the process no CPU for a second
    time.sleep(1)
    watcher.send_signal(signal.SIGCONT)
    stalls = json.loads(watcher.stdout.readline())
    assert watcher.wait(10) == 0
    assert len(stalls) == 1, stalls
    start, end = stalls[0]
    assert 0.9 < end - start < 1.5


def test_only_failures_near_a_stall_as_long_as_a_budget_are_put_down_to_the_host():
    result = load_client.Result(stalls=[(100.0, 101.0), (200.0, 200.15)])
    near = [(100.0 - AFTERMATH, 503), (100.5, 504), (101.0 + AFTERMATH, 502)]
    far = [(100.0 - AFTERMATH - 0.1, 503), (101.1 + AFTERMATH, 502)]
    near_a_short_stall = [(200.1, 504)]  # 0.15 s: shorter than a Redis try's wait for its reply
    result.failures = near + far + near_a_short_stall
    assert result.failed_by_the_stack() == far + near_a_short_stall
    assert result.failed_by_the_stack(budget=0.1) == far
    assert result.failed_by_the_stack(budget=1.5) == result.failures
    assert load_client.Result(failures=near).failed_by_the_stack() == near  # no stall, nothing excused
