"""Load against the running stack, with locust in the stack's loadtest profile, and its verdict:
  make load     a headless run bounded by DURATION, with WORKERS worker processes (0: one
                process); writes reports/<time>/ and ends with the exactness verdict, which is
                also its exit code
  make load-ui  locust's web UI; each test started there gets its verdict when it stops
  make check    the verdict of the newest test in a run's folder (REPORT=reports/<time>, or the
                newest run); refused, writing nothing, while a test still runs in the web UI
Each verdict is made by locust itself (loadtest/judge.py); it is shown by the load generator's
image (loadtest/exactness.py), so nothing but Docker is needed here."""

import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

from control import docker, settings
from control.compose import Compose
from control.errors import Stop
from control.explain import or_explain
from control.reports import REPORTS, new_report_dir
from control.say import say

DURATION = re.compile(r"([0-9]+h)?([0-9]+m)?([0-9]+s)?")
SPAWN_RATE = re.compile(r"[1-9][0-9]*(\.[0-9]+)?|0\.[0-9]*[1-9][0-9]*")
RATIO = re.compile(r"0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+")


def matching(name, value, pattern, what):
    if not pattern.fullmatch(value):
        raise settings.SettingError(f"{name} must be {what}, got '{value}'")
    return value


def loadtest(environ):
    """Compose with the loadtest profile, whose containers write reports/ as the invoking user."""
    return Compose({**environ, "HOST_USER": f"{os.getuid()}:{os.getgid()}"}, profiles=["loadtest"])


def locust_master(compose, *args):
    """ARGS run in a new locust-master container, its output passed on: the exit code."""
    return docker.passed(*compose.command("run", "--rm", "--no-deps", *args), env=compose.environ)


def checked(environ):
    """make load's settings, each checked: a refusal names the first that is wrong."""
    run = SimpleNamespace(users=settings.whole_number("USERS", environ.get("USERS", "50"), 1, 100000))
    run.spawn_rate = matching(
        "SPAWN_RATE", environ.get("SPAWN_RATE", "10"), SPAWN_RATE, "a number of users per second above 0"
    )
    run.duration = environ.get("DURATION", "30s")
    if not (DURATION.fullmatch(run.duration) and re.search("[1-9]", run.duration)):
        raise settings.SettingError(f"DURATION must be a time such as 30s, 5m or 1h30m, got '{run.duration}'")
    run.workers = settings.whole_number("WORKERS", environ.get("WORKERS", "0"), 0, 64)
    run.shape = environ.get("SHAPE", "")
    if run.shape not in SHAPES:
        raise settings.SettingError(
            "SHAPE must be wave (rise, hold, fall), step (a tenth, then all) or empty (USERS "
            f"throughout), got '{run.shape}'"
        )
    run.max_fail_ratio = matching(
        "MAX_FAIL_RATIO", environ.get("MAX_FAIL_RATIO", "0"), RATIO, "a ratio from 0 to 1"
    )
    return run


# What each SHAPE (loadtest/shape.py) does with USERS, as make load says it.
SHAPES = {
    "": "{users} users, {spawn_rate} new per second",
    "wave": "users rising to {users}, holding, falling to a tenth",
    "step": "a tenth of {users} users, then all {users} from a quarter in",
}


def load(environ):
    run = checked(environ)
    docker.require_docker()
    compose = loadtest(environ)
    compose.require_running_stack()
    report = new_report_dir()
    try:
        say("building the load generator")
        compose.run("build", "--quiet", "locust-master", "locust-worker")
        if run.workers:
            say(f"starting {run.workers} locust workers")
            compose.run(
                "up", "--detach", "--no-deps", "--scale", f"locust-worker={run.workers}", "locust-worker"
            )
        options = locust_options(run.users, run.spawn_rate, run.duration, run.workers, report)
        drawn = SHAPES[run.shape].format(users=run.users, spawn_rate=run.spawn_rate)
        say(f"{drawn}, for {run.duration} (report in {report}/)")
        compose.environ.update(
            LOCUST_REPORT=f"/{report}", MAX_FAIL_RATIO=run.max_fail_ratio, LOAD_SHAPE=run.shape
        )
        status = locust_master(compose, "--use-aliases", "locust-master", "locust", *options)
        say(f"report: {report}/report.html, and the verdict in {report}/test-1/ (summary.json, summary.png)")
        # The verdict last, where it is read (locust's own final statistics come after its
        # hooks). It decides the exit code too: locust's own can be lost (its CSV writer failing
        # as it quits, seen).
        verdict = locust_master(compose, "locust-master", "python", "exactness.py", f"/{report}")
    finally:
        compose.run("rm", "--stop", "--force", "locust-worker", check=False)
    return 0 if status == 0 and verdict == 0 else 1


def locust_options(users, spawn_rate, duration, workers, report):
    """locust runs the test itself (its autostart, as in the web UI, so that a stop waits for every
    worker's users) and gives it its verdict (loadtest/judge.py)."""
    return [
        *("--autostart", "--autoquit", "0", "--web-host", "127.0.0.1", "--print-stats"),
        *("--users", str(users), "--spawn-rate", spawn_rate, "--run-time", duration),
        *("--csv", f"/{report}/locust", "--html", f"/{report}/report.html"),
        *(("--master", "--expect-workers", str(workers)) if workers else ()),
    ]


def load_ui(environ):
    workers = settings.whole_number("WORKERS", environ.get("WORKERS", "0"), 0, 64)
    docker.require_docker()
    compose = loadtest(environ)
    compose.require_running_stack()
    report = new_report_dir(suffix="-ui")
    compose.environ.update(LOCUST_REPORT=f"/{report}", LOCUST_MASTER="true" if workers else "false")
    or_explain(
        compose,
        "starting locust's web UI",
        *("up", "--detach", "--build", "--no-deps", "--scale", f"locust-worker={workers}"),
        *("locust-master", "locust-worker"),
    )
    address = compose.published("locust-master", 8089)
    shown = f"each test's verdict in {report}/test-N/; 'make check' shows the newest"
    say(f"locust UI: http://{address}/  ({shown})")


def check(environ):
    # locust runs (locust writes its CSV statistics), named by start time: the last is the newest
    runs = sorted(d for d in REPORTS.glob("*/") if (d / "locust_stats.csv").is_file())
    report = (environ.get("REPORT") or (str(runs[-1]) if runs else "")).rstrip("/")
    if not report:
        raise Stop("no run to check: reports/ has no locust run (run 'make load' first)")
    if not Path(report).is_dir():
        raise Stop(f"{report} is not a folder")
    docker.require_docker()
    compose = loadtest(environ)
    ui = ["--locust", "http://locust-master:8089"] if compose.running("locust-master") else []
    exactness = ["python", "exactness.py", f"/{report}", *ui]
    done = compose.run("run", "--rm", "--no-deps", "locust-master", *exactness, check=False)
    print(done.stdout, end="", flush=True)
    # Compose adds an empty line to its errors when the command fails: the reason stays the last line.
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    if errors:
        print("\n".join(errors), file=sys.stderr)
    return done.returncode
