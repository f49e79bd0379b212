"""Every locust test gets its exactness verdict, from locust's own event hooks.

When a test starts (on the master or the local runner, never on a worker) the counter is read;
when it has stopped, every user having finished its request and the workers' last statistics being
in, the counter is read again and its movement compared with locust's totals for the requests
that count. Test N's files go to REPORT/test-N/ (before.json, after.json, summary.json,
summary.png); its verdict goes to the console, to the web UI's Exactness tab (the figures so far
while it runs) and, when locust quits, to its exit code.
"""

import json
import logging
import time
from pathlib import Path

import gevent
from flask import request
from locust import events
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

import exactness

log = logging.getLogger("exactness")


class Judge:
    def __init__(self, environment, counting):
        self.environment = environment
        self.counting = counting
        options = environment.parsed_options
        self.report = Path(options.report)
        self.max_fail_ratio = options.max_fail_ratio
        self.tests = 0
        self.before = None  # the running test's first snapshot, None when it has none
        self.summary = None  # the newest test's verdict, once it has stopped
        self.failed = False  # a test failed, or could not be judged
        self.started = 0.0
        self.rates = []  # (seconds since start, requests that count so far)
        # (seconds since start, users running, replicas that served since the last sample, p99 in
        # ms over locust's last 10 s)
        self.users = []
        self.sampler = None
        self.reported = {}  # a worker's id: when its statistics last came in

    def totals(self):
        """(sent, succeeded, failed) over the requests that count, from locust's statistics."""
        stats = self.environment.runner.stats.entries
        entries = [entry for (name, _), entry in stats.items() if name in self.counting]
        sent = sum(e.num_requests for e in entries)
        failed = sum(e.num_failures for e in entries)
        return sent, sent - failed, failed

    def counter(self):
        """The stack's /stats, or None (said in one line) when it cannot be read."""
        host = self.environment.host or self.environment.parsed_options.host  # the UI's, or locust.conf's
        try:
            return exactness.snapshot(host)
        except (OSError, ValueError) as error:
            log.error("cannot read the counter at %s/stats: %s", host, error)
            return None

    def test_started(self, **_):
        self.tests += 1
        self.summary = None
        self.folder().mkdir(parents=True, exist_ok=True)
        self.before = self.counter()
        if self.before is None:
            self.give_up("the counter could not be read at its start")
            return
        self.write("before.json", self.before)
        self.started = time.monotonic()
        self.rates, self.users = [], []
        self.sampler = gevent.spawn(self.sample)

    def sample(self):
        # A master's totals move only when the workers report.
        every = WORKER_REPORT_INTERVAL if isinstance(self.environment.runner, MasterRunner) else 1
        last = self.before["replicas"]
        while True:
            now = time.monotonic() - self.started
            self.rates.append((now, self.totals()[0]))
            # The replicas whose own count moved since the last sample: those serving now.
            try:  # quietly: a stack that does not answer now is said by the verdict
                stats = exactness.snapshot(self.environment.host or self.environment.parsed_options.host)
            except (OSError, ValueError):
                stats = None
            if stats is not None:
                moved = sum(1 for name, n in stats["replicas"].items() if n > last.get(name, 0))
                p99 = self.environment.runner.stats.total.get_current_response_time_percentile(0.99)
                self.users.append((now, self.environment.runner.user_count, moved, p99 or 0))
                last = stats["replicas"]
            gevent.sleep(every)

    def stats_reset(self, **_):
        # The web UI's Reset drops the totals of requests the counter has already counted.
        if self.before is not None:
            self.give_up("locust's statistics were reset during it (Reset in the web UI)")

    def give_up(self, why):
        self.before = None
        self.failed = True
        if self.sampler:
            self.sampler.kill()
        (self.folder() / "no-verdict.txt").write_text(why + "\n")
        log.error("test %d gets no verdict: %s", self.tests, why)

    def worker_reported(self, client_id, **_):
        self.reported[client_id] = time.monotonic()

    def last_reports(self, since):
        """Wait for a report of every worker sent after `since`, when its users had all stopped.

        A worker sends its statistics every WORKER_REPORT_INTERVAL s, none when it stops; one that
        no longer reports (it quit) is waited for that long and a few seconds more.
        """
        deadline = since + WORKER_REPORT_INTERVAL + 5
        while any(last <= since for last in self.reported.values()) and time.monotonic() < deadline:
            gevent.sleep(0.1)

    def test_stopped(self, **_):
        if self.before is None:
            return
        after = self.counter()  # every user has stopped: the counter no longer moves
        if after is None:
            self.give_up("the counter could not be read at its end")
            return
        self.sampler.kill()
        stopped = time.monotonic()
        if isinstance(self.environment.runner, MasterRunner):
            self.last_reports(since=stopped)
        stopped -= self.started
        self.rates.append((stopped, self.totals()[0]))
        self.write("after.json", after)
        summary = exactness.summarize(self.before, after, self.totals(), self.max_fail_ratio)
        summary["rates"] = self.rates
        summary["users"] = self.users
        self.before = None
        self.failed = self.failed or not summary["passed"]
        self.write("summary.json", summary)
        try:
            from plot import plot

            plot(self.folder(), summary)
        except ImportError as error:  # matplotlib is in the load generator's image only
            log.warning("no PNG: %s", error)
        self.summary = summary
        print(f"\ntest {self.tests} ({self.folder()}):\n{exactness.table(summary)}\n", flush=True)

    def quitting(self, environment, **_):
        if self.tests:
            environment.process_exit_code = 1 if self.failed or self.summary is None else 0

    def folder(self):
        return self.report / f"test-{self.tests}"

    def write(self, name, data):
        # Written whole, then renamed, so that `make check` never reads half a file.
        path = self.folder() / name
        path.with_suffix(".tmp").write_text(json.dumps(data, indent=2) + "\n")
        path.with_suffix(".tmp").replace(path)

    def rows(self):
        """The Exactness tab: the newest test's verdict, or its figures so far while it runs."""
        if self.summary is not None:
            s = self.summary
            rows = [
                ("verdict", f"{s['verdict']}: {s['reason']}"),
                ("successful", s["succeeded"]),
                ("failed", s["failed"]),
                ("counter delta", s["counter_delta"]),
                ("files", str(self.folder())),
            ]
        elif self.before is not None:
            sent, succeeded, failed = self.totals()
            now = self.counter()
            delta = now["total"] - self.before["total"] if now else "unknown"
            rows = [
                ("verdict", "running: final once the test has stopped"),
                ("successful so far", succeeded),
                ("failed so far", failed),
                ("counter delta so far", delta),
            ]
        elif self.tests:
            reason = self.folder() / "no-verdict.txt"
            rows = [("verdict", f"none: {reason.read_text().strip() if reason.exists() else 'see the log'}")]
        else:
            rows = [("verdict", "no test yet")]
        return [{"what": what, "value": str(value)} for what, value in rows]

    def extend(self, web_ui):
        """The Exactness tab, through locust's documented web UI extension points."""
        web_ui.template_args["extended_tabs"] = [{"title": "Exactness", "key": "exactness"}]
        web_ui.template_args["extended_tables"] = [
            {"key": "exactness", "structure": [{"key": "what", "title": ""}, {"key": "value", "title": ""}]}
        ]

        @web_ui.app.after_request
        def add_verdict(response):
            if request.path == "/stats/requests" and response.is_json:
                extended = [{"key": "exactness", "data": self.rows()}]
                response.set_data(json.dumps({**response.json, "extended_stats": extended}))
            return response


def judge_every_test(counting):
    """Give every test in this locust process its verdict over the requests named in `counting`."""

    @events.init_command_line_parser.add_listener
    def options(parser, **_):
        parser.add_argument(
            "--report",
            env_var="LOCUST_REPORT",
            default="reports",
            include_in_web_ui=False,
            help="folder for each test's verdict (test-1, test-2, ...)",
        )
        parser.add_argument(
            "--max-fail-ratio",
            env_var="LOCUST_MAX_FAIL_RATIO",
            type=float,
            default=0.0,
            include_in_web_ui=False,
            help="fail a test whose failed share is above this",
        )

    @events.init.add_listener
    def attach(environment, **_):
        if isinstance(environment.runner, WorkerRunner):
            return
        judge = Judge(environment, counting)
        environment.events.test_start.add_listener(judge.test_started)
        environment.events.test_stop.add_listener(judge.test_stopped)
        environment.events.reset_stats.add_listener(judge.stats_reset)
        environment.events.worker_report.add_listener(judge.worker_reported)
        environment.events.quitting.add_listener(judge.quitting)
        if environment.web_ui:
            judge.extend(environment.web_ui)
