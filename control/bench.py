"""`make bench`: its own stack (project counter-bench), each replica limited to WEB_CPUS of a core,
measured idle, at BENCH_REPLICAS replicas and against four baselines, each point BENCH_REPEAT
times; then the ceiling of one Redis for the counter's step at BENCH_CEILING clients, in clear and
over TLS; then Redis under Sentinel at the largest replica count in turns: over TLS (REDIS_TLS=on,
as on Swarm), in clear, and in clear without the acknowledgement. Every tier's CPU comes from its
containers' cgroup counters (bench/). The report goes to reports/bench-<time>/ (results.json,
results.md, bench.png)."""

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from types import SimpleNamespace

from control import docker, redis, secrets, settings
from control.compose import BUILD, Compose
from control.errors import Stop
from control.explain import or_explain, quiet_or_explain
from control.reports import new_report_dir
from control.say import say

CGROUP = "/sys/fs/cgroup/cpuacct/docker"
CORES = re.compile(r"[0-9]+(\.[0-9]+)?|\.[0-9]+")
# The step exactly as the app runs it: store.py's script, by its text.
STEP = "import sys; from counter.store import INCREMENT_ONCE; sys.stdout.write(INCREMENT_ONCE)"


def counts(environ, name, default, what, most):
    value = environ.get(name, default)
    return [settings.whole_number(f"a {what} in {name}", n, 1, most) for n in value.split()], value


def checked(environ):
    """The bench's settings, each checked: a refusal names the first that is wrong."""
    replicas, listed = counts(environ, "BENCH_REPLICAS", "1 2 3 4", "replica count", 16)
    ceiling, _ = counts(environ, "BENCH_CEILING", "1 2 4 8 16 32 64", "client count", 1000)
    if not replicas:
        raise Stop("BENCH_REPLICAS must list replica counts, such as '1 2 3 4'")
    if 1 not in replicas:
        raise Stop(f"BENCH_REPLICAS must include 1: every ratio is against one replica, got '{listed}'")
    chosen = SimpleNamespace(replicas=replicas, listed=listed, ceiling=ceiling)
    for name, default, low, high in RANGES:
        setattr(
            chosen,
            name,
            settings.whole_number(
                f"BENCH_{name.upper()}", environ.get(f"BENCH_{name.upper()}", default), low, high
            ),
        )
    chosen.web_cpus = environ.get("WEB_CPUS", "0.25")
    if not CORES.fullmatch(chosen.web_cpus):
        raise Stop(f"WEB_CPUS must be a number of cores such as 0.25, got '{chosen.web_cpus}'")
    return chosen


# The bench's whole-number settings: BENCH_<NAME>, its default and its range.
RANGES = (
    ("warmup", "5", 0, 600),
    ("duration", "15", 1, 600),
    ("connections", "32", 1, 256),
    ("repeat", "3", 1, 20),
    ("idle", "20", 1, 600),
)


def main(environ):
    chosen = checked(environ)
    docker.require_docker()
    if not os.access(CGROUP, os.R_OK):
        raise Stop(f"no cgroup v1 CPU counters at {CGROUP}: make bench measures each container's CPU there")
    project = environ.get("BENCH_PROJECT") or "counter-bench"
    compose = Compose(
        {
            **environ,
            **dict(
                COMPOSE_PROJECT_NAME=project, WEB_CPUS=chosen.web_cpus, REDIS_MODE="single", REDIS_TLS="off"
            ),
            **dict(LB_BIND="127.0.0.1", LB_PORT=environ.get("BENCH_LB_PORT") or "0"),
            **dict(BACK_NETWORK=docker.free_network("10.210"), HOST_USER=f"{os.getuid()}:{os.getgid()}"),
        },
        profiles=["bench"],
    )
    report = new_report_dir(prefix="bench-")
    run = Run(compose, report, chosen.warmup, chosen.duration, chosen.connections)
    try:
        write_settings(report, environ, chosen)
        with contextlib.redirect_stdout(io.StringIO()):
            secrets.main(environ)
        say(f"starting the benchmark stack ({project}; each replica limited to {chosen.web_cpus} of a core)")
        quiet_or_explain(compose, "building the benchmark's images", *BUILD)
        up = ("up", "--detach", "--wait", "--scale", "web=1", "lb", "tutorial", "lb-static", "smallest")
        or_explain(compose, "starting the benchmark stack", *up)
        say(f"idle for {chosen.idle} s (no traffic yet), then each healthcheck's cost")
        idle_and_probes(run, chosen.idle)
        points(run, chosen.replicas, chosen.repeat)
        redis_ceilings(run, chosen.ceiling)
        sentinel_turns(run, max(chosen.replicas), chosen.repeat)
        run.bench("python", "report.py", f"/{report}")
        say(f"report: {report}/results.md, results.json, bench.png")
    finally:
        compose.mode = compose.environ["REDIS_MODE"] = "sentinel"
        compose.run("down", "--volumes", "--remove-orphans", check=False)


def write_settings(report, environ, chosen):
    """What the report says it measured with."""
    written = {
        **dict(replicas=chosen.listed, warmup=chosen.warmup, duration=chosen.duration),
        **dict(
            connections=chosen.connections, web_cpus=chosen.web_cpus, repeat=chosen.repeat, idle=chosen.idle
        ),
        **dict(lb_cpus=environ.get("LB_CPUS") or "1", redis_cpus=environ.get("REDIS_CPUS") or "1"),
        "host_cpus": len(os.sched_getaffinity(0)),
    }
    (report / "settings.json").write_text(json.dumps(written) + "\n")


class Run:
    """The benchmark's stack and report, and how a point is measured."""

    def __init__(self, compose, report, warmup, duration, connections):
        self.compose, self.report = compose, report
        self.warmup, self.duration, self.connections = warmup, duration, connections

    def bench(self, *args):
        """ARGS in a new container of the bench service, its output passed on."""
        command = self.compose.command("run", "--rm", "--no-deps", "bench", *args)
        if docker.passed(*command, env=self.compose.environ) != 0:
            raise Stop(f"{' '.join(args[:2])} failed (its output is above)")

    def tier(self, name, *services):
        """--tier=TIER=ID for each container of each service."""
        ids = [i for service in services for i in self.compose.run("ps", "--quiet", service).stdout.split()]
        return [f"--tier={name}={i}" for i in ids]

    def stack(self):
        instances, sentinels = self.compose.declared().of(self.compose.mode)
        return [
            *self.tier("web", "web"),
            *self.tier("lb", "lb"),
            *self.tier("redis", *instances),
            *self.tier("sentinel", *sentinels),
        ]

    def measure(self, name, kind, replicas, turn, *args, **changed):
        """One point, appended to points.jsonl (with `duration`, another measured time)."""
        self.bench(
            *("python", "measure.py", "--name", name, "--kind", kind, "--replicas", str(replicas)),
            *("--repeat", str(turn), "--connections", str(self.connections), "--warmup", str(self.warmup)),
            *(
                "--duration",
                str(changed.get("duration", self.duration)),
                "--out",
                f"/{self.report}/points.jsonl",
            ),
            *args,
        )

    def paced_rate(self):
        """The rate the last point was paced at: the points after it in the same turn are paced at it
        too, so that their CPU per request is compared at the same rate (TLS's is the lowest)."""
        last = (self.report / "points.jsonl").read_text().splitlines()[-1]
        return str(json.loads(last)["paced"]["target_rps"])


def idle_and_probes(run, idle):
    """The stack idle, then what each healthcheck costs."""
    tiers = run.stack()
    run.measure("idle", "idle", 1, 1, *tiers, duration=idle)
    probes = [sys.executable, "bench/probes.py", "--out", f"{run.report}/probes.json", *tiers]
    if subprocess.run(probes, env={**os.environ, "BENCH_CGROUP": "/sys/fs/cgroup"}).returncode != 0:
        raise Stop("measuring the healthchecks failed (its output is above)")


# A point served through nginx, and its count read there.
THROUGH_LB = ("--url", "http://lb:8080/", "--count-url", "http://lb:8080/count")


def compared(replicas, repeat):
    """The compared points in the order they are measured, as (name, kind, replicas, turn): the stack
    at each replica count, at one replica interleaved with direct and smallest, so that the host's
    drift touches them alike; then lb static and the tutorial."""
    for n in replicas:
        for turn in range(1, repeat + 1):
            yield f"stack {n}", "stack", n, turn
            if n == 1:
                yield "direct", "direct", 1, turn
                yield "smallest", "smallest", 1, turn
    for name, kind in (("lb static", "lb"), ("tutorial", "tutorial")):
        for turn in range(1, repeat + 1):
            yield name, kind, 0 if kind == "lb" else 1, turn


def under_sentinel(top, repeat):
    """Redis under Sentinel at TOP replicas, in turns, as (name, variant, turn): over TLS first (the
    other two are paced at its rate), in clear, in clear without the acknowledgement."""
    for turn in range(1, repeat + 1):
        for variant in ("tls", "clear", "unacknowledged"):
            suffix = "" if variant == "clear" else f" {variant}"
            yield f"sentinel {top}{suffix}", variant, turn


def points(run, replicas, repeat):
    """The stack at each replica count, and the baselines: direct, smallest, lb static, tutorial."""
    compose = run.compose
    instances, _ = compose.declared().of(compose.mode)
    say(
        f"point by point, {repeat} times each: warm-up {run.warmup} s, then {run.duration} s measured "
        "(twice for the stack: at full and 80% rate)"
    )
    redis_tiers = run.tier("redis", *instances)
    baselines = {
        "smallest": ("--url", "http://smallest:8000/", *run.tier("web", "smallest"), *redis_tiers),
        "lb": ("--url", "http://lb-static:8080/", *run.tier("lb", "lb-static")),
        "tutorial": ("--url", "http://tutorial:8000/", *run.tier("web", "tutorial"), *redis_tiers),
    }
    scaled, tiers = None, []
    for name, kind, n, turn in compared(replicas, repeat):
        if kind == "stack" and n != scaled:
            scale = ("up", "--detach", "--no-build", "--no-deps", "--no-recreate", "--scale", f"web={n}")
            or_explain(compose, f"scaling web to {n} replicas", *scale, "--wait", "web")
            scaled, tiers = n, run.stack()
        where = {
            **baselines,
            "stack": (*THROUGH_LB, "--paced", "0.8", *tiers),
            "direct": ("--url", "http://web:8000/", "--count-url", "http://web:8000/count", *tiers),
        }
        run.measure(name, kind, n, turn, *where[kind])


def redis_ceilings(run, ceiling):
    compose = run.compose
    clients = " ".join(str(n) for n in ceiling)
    say(
        f"the ceiling of one Redis for the counter's step: redis-benchmark at {clients} clients, "
        "in clear, then over TLS"
    )
    single = compose.declared().single
    for tls in ("off", "on"):
        if tls == "on":
            compose.environ["REDIS_TLS"] = "on"
            or_explain(compose, "restarting Redis over TLS", "up", "--detach", "--wait", "--no-deps", single)
        step = compose.run("exec", "-T", "web", "python", "-c", STEP).stdout
        sha = redis.compose_group(compose).admin(single, "-x", "SCRIPT", "LOAD", stdin=step).strip()
        if not re.fullmatch("[0-9a-f]{40}", sha):
            raise Stop(f"Redis did not load the counter's step (it answered {sha!r})")
        run.bench(
            *("python", "ceiling.py", "--sha", sha, "--concurrency", *[str(n) for n in ceiling]),
            *("--out", f"/{run.report}/ceiling.jsonl", *run.tier("redis", single)),
        )


def sentinel_turns(run, top, repeat):
    """Redis under Sentinel at TOP web replicas, in turns (under_sentinel): the points that are
    compared run interleaved, a turn each, so the host's drift touches them alike."""
    compose = run.compose
    say(
        f"Redis under Sentinel, {top} web replicas, in turn {repeat} times: over TLS, in clear, "
        "in clear without the acknowledgement"
    )
    compose.mode = compose.environ["REDIS_MODE"] = "sentinel"
    declared = compose.declared()

    def group(what, tls):
        """Redis, the sentinels and web (re)started over TLS or in clear, and the tiers read again."""
        compose.environ["REDIS_TLS"] = tls
        members = (*declared.instances, *declared.sentinels)
        or_explain(compose, what, "up", "--detach", "--wait", "--scale", f"web={top}", *members, "web")
        redis.compose_group(compose, declared).wait(120)
        return run.stack()

    url, rate = THROUGH_LB, None
    for name, variant, turn in under_sentinel(top, repeat):
        if variant == "tls":
            tiers = group("starting Redis, the sentinels and web over TLS", "on")
            run.measure(name, "sentinel", top, turn, "--tls", *url, "--paced", "0.5", *tiers)
            rate = run.paced_rate()
        elif variant == "clear":
            tiers = group("restarting Redis, the sentinels and web in clear", "off")
            run.measure(name, "sentinel", top, turn, *url, "--paced-rps", rate, *tiers)
        else:
            without_the_acknowledgement(compose, top)
            unacknowledged = ("--unacknowledged", *url, "--paced-rps", rate)
            run.measure(name, "sentinel", top, turn, *unacknowledged, *run.stack())


def without_the_acknowledgement(compose, top):
    """Web restarted with REDIS_ACK_REPLICAS=0; the setting put back for the next turn."""
    acknowledging = compose.environ.get("REDIS_ACK_REPLICAS")
    compose.environ["REDIS_ACK_REPLICAS"] = "0"
    try:
        web = ("up", "--detach", "--wait", "--no-deps", "--scale", f"web={top}", "web")
        or_explain(compose, "restarting web without the acknowledgement", *web)
    finally:
        compose.environ.pop("REDIS_ACK_REPLICAS")
        if acknowledging is not None:
            compose.environ["REDIS_ACK_REPLICAS"] = acknowledging
