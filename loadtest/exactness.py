"""The exactness check: did the counter move by exactly the number of successful requests?

`python exactness.py REPORT_DIR` checks a finished run: the counter's snapshots from before and
after it, and locust's totals from its CSV statistics. It prints a verdict table, writes
summary.json and a PNG next to the HTML report, and exits 1 on MISMATCH or too many failures.
"""

import argparse
import csv
import json
import sys
import urllib.request
from pathlib import Path

# The locustfile's names for requests that count (first attempts and retries).
COUNTING = ("GET / (count up)", "GET / (retry)")


def verdict(succeeded, failed, delta):
    """(EXACT or MISMATCH, a one-line reason) for a counter delta against locust's totals."""
    low, high = succeeded, succeeded + failed
    if delta == succeeded:
        return "EXACT", f"the counter moved by {delta}: one per successful request"
    if delta < low:
        return "MISMATCH", f"lost counts: the counter is {low - delta} below the {succeeded} successes"
    if delta > high:
        return "MISMATCH", (
            f"double counts: the counter is {delta - high} above successes plus failures ({high})"
        )
    return "MISMATCH", (
        f"the counter is {delta - low} above the successes: failed requests were counted "
        f"(bounds {low}..{high})"
    )


def locust_totals(report):
    """(sent, succeeded, failed) over the counting requests of the run in `report`.

    From locust's final JSON when it wrote one (headless runs); otherwise from its CSV, which it
    rewrites every few seconds and so is complete once a test stopped in the web UI.
    """
    final = report / "locust.json"
    if final.exists():
        rows = [(s["name"], s["num_requests"], s["num_failures"]) for s in json.loads(final.read_text())]
    else:
        with open(report / "locust_stats.csv", newline="") as lines:
            rows = [
                (r["Name"], int(r["Request Count"]), int(r["Failure Count"])) for r in csv.DictReader(lines)
            ]
    sent = sum(n for name, n, _ in rows if name in COUNTING)
    failed = sum(f for name, _, f in rows if name in COUNTING)
    return sent, sent - failed, failed


def replica_shares(before, after):
    """[(replica, requests during the run, share)], largest first."""
    moved = {
        name: n - before["replicas"].get(name, 0)
        for name, n in after["replicas"].items()
        if n - before["replicas"].get(name, 0) > 0
    }
    total = sum(moved.values())
    return [(name, n, n / total) for name, n in sorted(moved.items(), key=lambda item: (-item[1], item[0]))]


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


def check(report, host, max_fail_ratio):
    """Check the run in `report`; returns its summary (taking the 'after' snapshot if missing)."""
    report = Path(report)
    before = json.loads((report / "before.json").read_text())
    after_file = report / "after.json"
    if not after_file.exists():
        after_file.write_text(json.dumps(snapshot(host)))
    after = json.loads(after_file.read_text())
    summary = summarize(before, after, locust_totals(report), max_fail_ratio)
    (report / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    try:
        from plot import plot

        plot(report, summary)
    except ImportError as error:  # matplotlib is in the locust image; elsewhere the PNG is skipped
        print(f"no PNG: {error}", file=sys.stderr)
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="a run's folder under reports/")
    parser.add_argument("--host", default="http://lb:8080")
    parser.add_argument("--max-fail-ratio", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        summary = check(args.report, args.host, args.max_fail_ratio)
    except (OSError, ValueError, KeyError) as error:
        print(f"check: cannot check {args.report}: {error}", file=sys.stderr)
        return 2
    print(table(summary))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
