"""`make load`: containerised locust against the stack, ending with the exactness verdict."""

import json
import re
import shutil
import threading

import pytest

from helpers.support import ROOT

pytestmark = pytest.mark.e2e


def report_of(output):
    return ROOT / re.search(r"report: (reports/\S+)/report\.html", output).group(1)


@pytest.fixture(scope="module")
def three_replicas(shared_stack):
    shared_stack.make("scale", "SCALE=3")
    return shared_stack


@pytest.mark.parametrize("workers", ["1", "2"])
def test_headless_run_ends_exact_with_every_replica_serving(three_replicas, workers):
    stack = three_replicas
    done = stack.make("load", "USERS=12", "SPAWN_RATE=12", "DURATION=8s", f"WORKERS={workers}")
    report = report_of(done.stdout)
    try:
        summary = json.loads((report / "summary.json").read_text())
        assert summary["verdict"] == "EXACT", summary
        assert summary["failed"] == 0 and summary["sent"] > 100
        assert summary["counter_delta"] == summary["succeeded"]
        served = {row["replica"]: row["requests"] for row in summary["replicas"]}
        assert set(served) == stack.replica_names()
        assert all(n > 0 for n in served.values())
        assert "EXACT: the counter moved by" in done.stdout
        for name in ("report.html", "locust_stats.csv", "locust_stats_history.csv", "summary.png"):
            assert (report / name).stat().st_size > 0, name
        assert (report / "summary.png").read_bytes().startswith(b"\x89PNG")
    finally:
        shutil.rmtree(report, ignore_errors=True)


def test_counts_made_behind_locusts_back_are_a_mismatch_and_fail_the_run(three_replicas):
    stack = three_replicas
    extra = []

    def count_behind_its_back():
        for _ in range(25):
            extra.append(stack.get("/")[0])

    sneak = threading.Timer(4, count_behind_its_back)
    sneak.start()
    done = stack.make("load", "USERS=5", "DURATION=8s", check=False)
    sneak.join()
    report = report_of(done.stdout)
    try:
        assert extra == [200] * 25
        assert done.returncode != 0
        summary = json.loads((report / "summary.json").read_text())
        assert summary["verdict"] == "MISMATCH"
        assert summary["counter_delta"] == summary["succeeded"] + 25
        assert "MISMATCH: double counts: the counter is 25 above" in done.stdout
    finally:
        shutil.rmtree(report, ignore_errors=True)


@pytest.mark.parametrize(
    "setting, message",
    [
        ("USERS=0", "USERS must be a whole number from 1 to 100000, got '0'"),
        ("DURATION=forever", "DURATION must be a time such as 30s, 5m or 1h30m, got 'forever'"),
        ("DURATION=0s", "DURATION must be a time such as 30s, 5m or 1h30m, got '0s'"),
        ("SPAWN_RATE=0", "SPAWN_RATE must be a number of users per second above 0, got '0'"),
        ("WORKERS=x", "WORKERS must be a whole number from 0 to 64, got 'x'"),
        ("MAX_FAIL_RATIO=2", "MAX_FAIL_RATIO must be a ratio from 0 to 1, got '2'"),
    ],
)
def test_bad_load_settings_are_refused_with_a_reason(stack, setting, message):
    done = stack.make("load", setting, check=False)
    assert done.returncode != 0
    assert done.stderr.splitlines()[0] == f"load.sh: {message}"
