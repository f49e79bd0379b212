"""One locust run against the stack: snapshot the counter, run locust, then check exactness.

Headless (the default) it runs for --duration and ends with the exactness check's verdict; with
--ui it serves locust's web UI, and `make check` gives the verdict once the test is stopped.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from exactness import check, snapshot, table

HERE = Path(__file__).resolve().parent


def locust_command(args, report):
    command = ["locust", "-f", str(HERE / "locustfile.py"), "--host", args.host]
    command += ["--csv", str(report / "locust"), "--html", str(report / "report.html")]
    # A stopped test lets each user finish the request it has sent, so none is counted unseen.
    command += ["--stop-timeout", "10"]
    if args.workers:
        command += ["--master", "--expect-workers", str(args.workers)]
    if args.ui:
        return command + ["--web-port", "8089"]
    command += ["--headless", "--users", str(args.users), "--spawn-rate", str(args.spawn_rate)]
    command += ["--run-time", args.duration]
    # The final totals: the CSV may miss the last second of a headless run.
    return command + ["--json-file", str(report / "locust")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", required=True, help="folder for this run's files")
    parser.add_argument("--host", default="http://lb:8080")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--duration", default="30s")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--max-fail-ratio", type=float, default=0.0)
    parser.add_argument("--ui", action="store_true")
    args = parser.parse_args(argv)

    report = Path(args.report)
    report.mkdir(parents=True, exist_ok=True)
    (report / "before.json").write_text(json.dumps(snapshot(args.host)))
    command = locust_command(args, report)
    if args.ui:
        os.execvp(command[0], command)
    locust = subprocess.run(command)
    summary = check(report, args.host, args.max_fail_ratio)
    print("\n" + table(summary))
    if locust.returncode not in (0, 1):  # 1 is locust's "there were failures", judged above
        print(f"locust exited {locust.returncode}", file=sys.stderr)
        return locust.returncode
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
