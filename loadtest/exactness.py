"""The exactness check, the one definition of "exact" that locust, the benchmark and the tests use:
no count handed out twice, and the counter moved by exactly the number of successful requests.

judge.py gives each locust test its verdict with these functions. `python exactness.py REPORT`
shows the newest test's verdict in a run's folder, and exits 1 on MISMATCH, on too many failures,
or when there is no final verdict yet: a test still running in locust's web UI (asked with
--locust URL) is refused, and nothing is written.
"""

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

RUNNING = ("spawning", "running", "stopping", "cleanup")  # locust's states of a test not yet over


class NoVerdict(Exception):
    """There is no final verdict to show (the message says why, in one line)."""


def verdict(succeeded, failed, delta, counts=None):
    """(EXACT or MISMATCH, a one-line reason) for a counter delta against the requests' outcomes.

    Jepsen's counter bounds: the counter moved by at least every success and at most every
    success plus every failure (a failed request may or may not have been counted); exact is the
    lower bound, each success counted once and no failure counted. Where the counts handed out
    are known (`counts`, one per success), none may have been handed out twice: that is an
    answered increment lost, whatever the totals.
    """
    problems = []
    if counts is not None and len(set(counts)) < len(counts):
        problems.append(f"counts handed out twice: {len(counts) - len(set(counts))} values")
    low, high = succeeded, succeeded + failed
    if delta < low:
        problems.append(f"lost counts: the counter is {low - delta} below the {succeeded} successes")
    elif delta > high:
        problems.append(
            f"double counts: the counter is {delta - high} above successes plus failures ({high})"
        )
    elif delta > low:
        problems.append(
            f"the counter is {delta - low} above the successes: failed requests were counted "
            f"(bounds {low}..{high})"
        )
    if problems:
        return "MISMATCH", "; ".join(problems)
    return "EXACT", f"the counter moved by {delta}: one per successful request"


def replica_shares(before, after):
    """[(replica, requests during the run, share)], largest first."""
    moved = {
        name: n - before["replicas"].get(name, 0)
        for name, n in after["replicas"].items()
        if n - before["replicas"].get(name, 0) > 0
    }
    total = sum(moved.values())
    return [(name, n, n / total) for name, n in sorted(moved.items(), key=lambda item: (-item[1], item[0]))]


def per_second(rates):
    """(seconds, requests/s) from samples of (seconds since start, requests so far)."""
    pairs = list(zip(rates, rates[1:], strict=False))
    return [t for _, (t, _) in pairs], [(n1 - n0) / (t1 - t0) for (t0, n0), (t1, n1) in pairs]


def summarize(before, after, totals, max_fail_ratio):
    sent, succeeded, failed = totals
    delta = after["total"] - before["total"]
    outcome, reason = verdict(succeeded, failed, delta)
    fail_ratio = failed / sent if sent else 0.0
    return {
        "verdict": outcome,
        "reason": reason,
        "sent": sent,
        "succeeded": succeeded,
        "failed": failed,
        "fail_ratio": fail_ratio,
        "max_fail_ratio": max_fail_ratio,
        "counter_before": before["total"],
        "counter_after": after["total"],
        "counter_delta": delta,
        "replicas": [{"replica": r, "requests": n, "share": s} for r, n, s in replica_shares(before, after)],
        "passed": outcome == "EXACT" and fail_ratio <= max_fail_ratio,
    }


def table(summary):
    lines = [
        f"requests sent      {summary['sent']:>10}",
        f"successful         {summary['succeeded']:>10}",
        f"failed             {summary['failed']:>10}   ({summary['fail_ratio']:.2%}, "
        f"allowed {summary['max_fail_ratio']:.2%})",
        f"counter delta      {summary['counter_delta']:>10}   "
        f"({summary['counter_before']} -> {summary['counter_after']})",
        "",
        "replica              requests    share",
    ]
    for row in summary["replicas"]:
        lines.append(f"{row['replica']:<20} {row['requests']:>8}   {row['share']:6.1%}")
    lines += ["", f"{summary['verdict']}: {summary['reason']}"]
    if summary["fail_ratio"] > summary["max_fail_ratio"]:
        lines.append(f"FAILED: the failure ratio is above MAX_FAIL_RATIO ({summary['max_fail_ratio']})")
    return "\n".join(lines)


def snapshot(host):
    with urllib.request.urlopen(f"{host}/stats", timeout=10) as response:
        return json.load(response)


def locust_state(url):
    """The state of the test in the locust web UI at `url` ("running", "stopped", ...)."""
    with urllib.request.urlopen(f"{url}/stats/requests", timeout=10) as response:
        return json.load(response)["state"]


def newest_test(report):
    tests = sorted(Path(report).glob("test-[0-9]*/"), key=lambda path: int(path.name[5:]))
    return tests[-1] if tests else None


def final_summary(report, locust_url=None, wait=15):
    """(folder, summary) of the newest test in `report`; NoVerdict says why there is none."""
    state = locust_state(locust_url) if locust_url else None
    if state in RUNNING:
        raise NoVerdict(f"the test in locust's web UI is {state}: stop it there, then run 'make check'")
    test = newest_test(report)
    if test is None:
        raise NoVerdict(f"{report} has no test yet: start one in locust's web UI")
    summary, reason = test / "summary.json", test / "no-verdict.txt"
    if reason.exists():
        raise NoVerdict(f"{test} has no verdict: {reason.read_text().strip()}")
    deadline = time.monotonic() + (wait if state == "stopped" else 0)
    while not summary.exists() and time.monotonic() < deadline:
        time.sleep(0.5)  # the verdict is made once the workers' last statistics are in
    if not summary.exists():
        raise NoVerdict(f"{test} has no verdict: its test never ended (locust stopped during it)")
    return test, json.loads(summary.read_text())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="a run's folder under reports/")
    parser.add_argument("--locust", help="the web UI of a locust that may still be running a test")
    args = parser.parse_args(argv)
    try:
        test, summary = final_summary(args.report, args.locust)
    except (OSError, ValueError, KeyError) as error:
        print(f"check: cannot read the verdict in {args.report}: {error}", file=sys.stderr)
        return 2
    except NoVerdict as refusal:
        print(f"check: {refusal}", file=sys.stderr)
        return 1
    print(f"{test}:\n{table(summary)}")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
