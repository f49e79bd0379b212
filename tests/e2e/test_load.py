"""`make load`: containerised locust against the stack, ending with the exactness verdict."""

import csv
import json
import re
import shutil
import threading
import urllib.parse
import urllib.request

import pytest

from helpers.stack import script_lines
from helpers.support import ROOT, free_port, wait_for

pytestmark = pytest.mark.e2e


def report_of(output):
    return ROOT / re.search(r"report: (reports/\S+)/report\.html", output).group(1)


def three_replicas(shared_stack):
    shared_stack.make("scale", "SCALE=3")
    return shared_stack


@pytest.mark.parametrize("workers, shape", [("1", "step"), ("2", "")])
def test_headless_run_ends_exact_with_every_replica_serving(three_replicas, workers, shape):
    stack = three_replicas
    done = stack.make(
        "load", "USERS=12", "SPAWN_RATE=12", "DURATION=8s", f"WORKERS={workers}", f"SHAPE={shape}"
    )
    report = report_of(done.stdout)
    try:
        summary = json.loads((report / "test-1" / "summary.json").read_text())
        assert summary["verdict"] == "EXACT", summary
        assert summary["failed"] == 0 and summary["sent"] > 100
        assert summary["counter_delta"] == summary["succeeded"]
        served = {row["replica"]: row["requests"] for row in summary["replicas"]}
        assert set(served) == stack.replica_names()
        assert all(n > 0 for n in served.values())
        assert done.stdout.splitlines()[-1].startswith("EXACT: the counter moved by")
        for name in ("report.html", "locust_stats.csv", "locust_stats_history.csv", "test-1/summary.png"):
            assert (report / name).stat().st_size > 0, name
        assert (report / "test-1" / "summary.png").read_bytes().startswith(b"\x89PNG")
        # Sampled as it ran: the users (a tenth, then all, under SHAPE=step), the replicas serving.
        users = [sample[1] for sample in summary["users"]]
        assert max(users) == 12 and max(sample[2] for sample in summary["users"]) == 3
        if shape == "step":  # locust's own history, a row a second: 1 user for 2 s, then 12
            with (report / "locust_stats_history.csv").open() as history:
                counts = [row["User Count"] for row in csv.DictReader(history) if row["Name"] == "Aggregated"]
            assert counts.count("1") >= 2 and "12" in counts[counts.index("1") :], counts
            assert "a tenth of 12 users, then all 12 from a quarter in" in done.stdout
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
        summary = json.loads((report / "test-1" / "summary.json").read_text())
        assert summary["verdict"] == "MISMATCH"
        assert summary["counter_delta"] == summary["succeeded"] + 25
        assert "MISMATCH: double counts: the counter is 25 above" in done.stdout
    finally:
        shutil.rmtree(report, ignore_errors=True)


def locust_ui(url, path, form=None):
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    with urllib.request.urlopen(url + path, data=data, timeout=10) as response:
        return json.load(response)


def worker_ready(url):
    return [w["state"] for w in locust_ui(url, "/stats/requests")["workers"]] == ["ready"]


def stop_test(url):
    """Stop the web UI's test and wait until locust says "stopped".

    A worker's late "spawning complete" can put locust back to "running" after a stop (its race,
    not the verdict's); `make check` rightly refuses a running test, so stop again until it ends.
    """

    def stopped():
        if locust_ui(url, "/stats/requests")["state"] in ("spawning", "running"):
            locust_ui(url, "/stop", {})
        return locust_ui(url, "/stats/requests")["state"] == "stopped"

    locust_ui(url, "/stop", {})
    wait_for(stopped, 60, "locust's test to stop", 0.5)


def exactness_tab(url):
    """The rows of the web UI's Exactness tab, as {what: value}."""
    (tab,) = [t for t in locust_ui(url, "/stats/requests")["extended_stats"] if t["key"] == "exactness"]
    return {row["what"]: row["value"] for row in tab["data"]}


def test_each_web_ui_test_gets_its_own_verdict_and_check_refuses_one_still_running(three_replicas):
    stack = three_replicas
    port = free_port()
    started = stack.make("load-ui", "WORKERS=1", f"LOCUST_PORT={port}")
    report = ROOT / re.search(r"verdict in (reports/\S+)/test-N/", started.stdout).group(1)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: worker_ready(url), 60, "the locust worker", 0.5)
        with urllib.request.urlopen(url + "/", timeout=10) as page:
            assert '"title": "Exactness"' in page.read().decode()
        for number in (1, 2):
            test = report / f"test-{number}"
            # A worker is ready again only its stop timeout (10 s) after the test before stopped.
            wait_for(lambda: worker_ready(url), 60, "the locust worker", 0.5)
            assert locust_ui(url, "/swarm", {"user_count": 6, "spawn_rate": 6, "host": "http://lb:8080"})[
                "success"
            ]
            wait_for(lambda: int(exactness_tab(url).get("successful so far", 0)) > 200, 60, "requests", 0.5)
            assert exactness_tab(url)["verdict"] == "running: final once the test has stopped"
            early = stack.make("check", check=False)
            assert early.returncode != 0
            assert script_lines(early)[-1] == (
                "check: the test in locust's web UI is running: stop it there, then run 'make check'"
            )
            assert sorted(f.name for f in test.iterdir()) == ["before.json"]
            stop_test(url)
            done = stack.make("check")
            summary = json.loads((test / "summary.json").read_text())
            assert summary["verdict"] == "EXACT" and summary["sent"] > 200, summary
            assert summary["counter_delta"] == summary["succeeded"]
            assert done.stdout.splitlines()[-1].startswith("EXACT: the counter moved by")
            assert f"test-{number}:" in done.stdout
            assert exactness_tab(url)["verdict"].startswith("EXACT: the counter moved by")
            # Counted between the tests, so outside both: a verdict that took its first snapshot
            # at the UI's start, not at its test's, would call the second test a MISMATCH.
            assert [stack.get("/")[0] for _ in range(5)] == [200] * 5
        # Reset in the UI drops totals the counter has kept: that test gets no verdict, said so.
        wait_for(lambda: worker_ready(url), 60, "the locust worker", 0.5)
        locust_ui(url, "/swarm", {"user_count": 6, "spawn_rate": 6, "host": "http://lb:8080"})
        # Stopped while still spawning, locust can go back to "running" when a worker's late
        # "spawning complete" arrives (its race, not the verdict's): stop once every user runs.
        wait_for(lambda: locust_ui(url, "/stats/requests")["state"] == "running", 60, "every user", 0.5)
        wait_for(lambda: int(exactness_tab(url).get("successful so far", 0)) > 50, 60, "requests", 0.5)
        urllib.request.urlopen(urllib.request.Request(url + "/stats/reset", method="POST"), timeout=10)
        stop_test(url)
        reset = stack.make("check", check=False)
        assert reset.returncode != 0
        assert script_lines(reset)[-1] == (
            f"check: /{report.relative_to(ROOT)}/test-3 has no verdict: "
            "locust's statistics were reset during it (Reset in the web UI)"
        )
        assert not (report / "test-3" / "summary.json").exists()
    finally:
        stack.compose("--profile", "loadtest", "rm", "--stop", "--force", "locust-master", "locust-worker")
        shutil.rmtree(report, ignore_errors=True)
