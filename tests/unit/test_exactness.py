"""The exactness check's verdicts, from locust's totals and the counter's snapshots."""

import json

import pytest

from exactness import (
    NoVerdict,
    final_summary,
    newest_test,
    per_second,
    replica_shares,
    summarize,
    table,
    verdict,
)


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


def a_test(report, number, summary=None):
    folder = report / f"test-{number}"
    folder.mkdir(parents=True)
    (folder / "before.json").write_text(json.dumps({"total": 0, "replicas": {}}))
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_the_newest_test_is_the_highest_number_not_the_last_name(tmp_path):
    for number in (1, 2, 9, 10):
        a_test(tmp_path, number)
    assert newest_test(tmp_path) == tmp_path / "test-10"


def test_a_run_with_no_test_has_no_verdict(tmp_path):
    with pytest.raises(NoVerdict, match="has no test yet: start one in locust's web UI"):
        final_summary(tmp_path)


def test_a_test_that_never_ended_has_no_verdict_even_if_an_older_one_has(tmp_path):
    a_test(tmp_path, 1, summary={"verdict": "EXACT"})
    a_test(tmp_path, 2)
    with pytest.raises(NoVerdict, match="test-2 has no verdict: its test never ended"):
        final_summary(tmp_path)
    assert not (tmp_path / "test-2" / "summary.json").exists()


def test_the_newest_verdict_is_read_as_written(tmp_path):
    a_test(tmp_path, 1, summary={"verdict": "MISMATCH"})
    newest = a_test(tmp_path, 2, summary={"verdict": "EXACT"})
    assert final_summary(tmp_path) == (newest, {"verdict": "EXACT"})


def test_the_picture_turns_running_totals_into_requests_per_second():
    assert per_second([(0.0, 0), (1.0, 100), (3.0, 500)]) == ([1.0, 3.0], [100.0, 200.0])


def test_a_test_judged_impossible_says_why(tmp_path):
    a_test(tmp_path, 1, summary={"verdict": "EXACT"})
    (a_test(tmp_path, 2) / "no-verdict.txt").write_text("the counter could not be read at its start\n")
    with pytest.raises(NoVerdict, match="test-2 has no verdict: the counter could not be read at its start$"):
        final_summary(tmp_path)


def test_a_count_handed_out_twice_is_a_mismatch_even_when_the_totals_agree():
    assert verdict(succeeded=3, failed=0, delta=3, counts=[1, 2, 3])[0] == "EXACT"
    outcome, reason = verdict(succeeded=3, failed=0, delta=3, counts=[1, 2, 2])
    assert (outcome, reason) == ("MISMATCH", "counts handed out twice: 1 values")


def test_every_problem_is_named_in_the_one_line():
    outcome, reason = verdict(succeeded=4, failed=0, delta=2, counts=[1, 2, 1, 2])
    assert reason == "counts handed out twice: 2 values; lost counts: the counter is 2 below the 4 successes"
