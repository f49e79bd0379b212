"""The exactness check's verdicts, from locust's CSV totals and the counter's snapshots."""

import csv
import json

from exactness import locust_totals, replica_shares, summarize, table, verdict


def test_exact_when_the_delta_equals_the_successes():
    assert verdict(succeeded=1000, failed=0, delta=1000)[0] == "EXACT"
    assert verdict(succeeded=990, failed=10, delta=990)[0] == "EXACT"


def test_a_double_count_is_a_mismatch_above_the_bounds():
    outcome, reason = verdict(succeeded=1000, failed=0, delta=1001)
    assert outcome == "MISMATCH"
    assert reason.startswith("double counts: the counter is 1 above")


def test_a_lost_count_is_a_mismatch_below_the_bounds():
    outcome, reason = verdict(succeeded=1000, failed=3, delta=998)
    assert outcome == "MISMATCH"
    assert reason == "lost counts: the counter is 2 below the 1000 successes"


def test_failed_requests_that_were_counted_are_named_with_the_bounds():
    outcome, reason = verdict(succeeded=1000, failed=5, delta=1002)
    assert outcome == "MISMATCH"
    assert "bounds 1000..1005" in reason


def write_stats(path, rows):
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, ["Type", "Name", "Request Count", "Failure Count"])
        writer.writeheader()
        for name, sent, failed in rows:
            writer.writerow({"Type": "GET", "Name": name, "Request Count": sent, "Failure Count": failed})


def test_locust_totals_prefer_the_final_json_of_a_headless_run(tmp_path):
    write_stats(tmp_path / "locust_stats.csv", [("GET / (count up)", 10, 0)])
    final = [
        {"name": "GET / (count up)", "method": "GET", "num_requests": 12, "num_failures": 1},
        {"name": "GET / (retry)", "method": "GET", "num_requests": 1, "num_failures": 0},
        {"name": "GET /count (read)", "method": "GET", "num_requests": 5, "num_failures": 0},
    ]
    (tmp_path / "locust.json").write_text(json.dumps(final))
    assert locust_totals(tmp_path) == (13, 12, 1)


def test_locust_totals_add_first_attempts_and_retries_but_not_reads(tmp_path):
    stats = tmp_path / "locust_stats.csv"
    write_stats(
        stats,
        [
            ("GET / (count up)", 900, 4),
            ("GET / (retry)", 4, 1),
            ("GET /count (read)", 50, 0),
            ("Aggregated", 954, 5),
        ],
    )
    assert locust_totals(tmp_path) == (904, 899, 5)


def test_summary_shares_and_gate():
    before = {"total": 10, "replicas": {"a": 10}}
    after = {"total": 110, "replicas": {"a": 40, "b": 40, "c": 30}}
    assert replica_shares(before, after) == [("b", 40, 0.4), ("a", 30, 0.3), ("c", 30, 0.3)]
    summary = summarize(before, after, (100, 100, 0), max_fail_ratio=0.0)
    assert summary["verdict"] == "EXACT" and summary["passed"]
    assert "EXACT: the counter moved by 100" in table(summary)
    doubled = summarize(before, {**after, "total": 111}, (100, 100, 0), max_fail_ratio=0.0)
    assert doubled["verdict"] == "MISMATCH" and not doubled["passed"]
    failing = summarize(before, after, (102, 100, 2), max_fail_ratio=0.0)
    assert failing["verdict"] == "EXACT" and not failing["passed"]
    assert "FAILED: the failure ratio is above MAX_FAIL_RATIO" in table(failing)
