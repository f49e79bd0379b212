"""The autoscaler, a service of the stack (`make up AUTOSCALE=MIN-MAX`, Compose profile autoscale;
`make deploy AUTOSCALE=MIN-MAX` on Swarm, on a manager): every AUTOSCALE_PERIOD seconds it reads
how busy the web replicas are from Prometheus, decides (control/autoscale.py), and changes the
size through the stack's own lossless scale path: under Compose scale.py's, on Swarm an update of
web's replicas (service.py); either way new replicas healthy and reached through nginx, leaving
ones finishing their requests.
Each decision is one log line with its reason; its desired and current replicas are Prometheus
metrics at :9102/metrics. It holds no state worth keeping: restarted, it watches a whole
AUTOSCALE_DOWN_AFTER again before it scales in."""

import contextlib
import http.server
import json
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from control import autoscale, monitor, probes, service, settings
from control.compose import Compose
from control.engine import Engine
from control.errors import Stop
from control.explain import or_explain
from control.say import say
from control.scale import scale_web

# Busy, for each replica that has run for WARMUP s (a starting one burns CPU on its imports):
# its CPU over the last RATE_WINDOW over its limit. Prometheus scrapes every 5 s.
WARMUP, RATE_WINDOW = 20, "20s"
BUSY = (
    f'rate(counter_cpu_seconds_total{{job="web"}}[{RATE_WINDOW}])'
    ' / on(instance) counter_cpu_limit_cores{job="web"}'
    f' and on(instance) (time() - counter_started_time_seconds{{job="web"}} > {WARMUP})'
)
METRICS_PORT = 9102
SWARM_SCALE_WAIT = 180  # s for Swarm to run the replicas asked for


def busy(prometheus):
    """Each ready replica's busy fraction, from Prometheus at PROMETHEUS (a URL); None where it
    does not answer."""
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': BUSY})}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            found = json.load(response)["data"]["result"]
    except (OSError, ValueError, KeyError):
        return None
    return [float(series["value"][1]) for series in found]


class Figures:
    """What the autoscaler exports, at /metrics."""

    def __init__(self):
        self.desired = self.current = 0

    def text(self):
        return (
            "# TYPE counter_autoscaler_desired_replicas gauge\n"
            f"counter_autoscaler_desired_replicas {self.desired}\n"
            "# TYPE counter_autoscaler_current_replicas gauge\n"
            f"counter_autoscaler_current_replicas {self.current}\n"
        ).encode()

    def serve(self, port=METRICS_PORT):
        figures = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = figures.text() if self.path == "/metrics" else b"not found\n"
                self.send_response(200 if self.path == "/metrics" else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("", port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()


class ComposeWeb:
    """Web under Compose: its replicas counted and scaled with Compose (scale.py)."""

    def __init__(self, environ):
        self.compose = Compose(environ)
        self.environ = self.compose.environ

    def count(self):
        return len(self.compose.running("web"))

    def scale(self, replicas):
        scale_web(self.compose, replicas, quiet=True)


class SwarmWeb:
    """Web on Swarm (`make deploy AUTOSCALE=...`): the stack's web service, counted and scaled
    through Docker's API (service.py), then waited for until the load balancer reaches each replica."""

    def __init__(self, environ):
        self.environ = environ
        self.engine = Engine(environ)
        self.name = f"{environ.get('COMPOSE_PROJECT_NAME') or 'counter'}_web"

    def count(self):
        return len(service.running(self.engine, self.name))

    def scale(self, replicas):
        service.scale(self.engine, self.name, replicas, SWARM_SCALE_WAIT)
        address = self.environ.get("LB_ADDRESS", "lb:8080")
        probes.wait_served_by_all(address, service.running(self.engine, self.name))


def main(environ):
    web = SwarmWeb(environ) if environ.get("ORCHESTRATOR") == "swarm" else ComposeWeb(environ)
    environ = web.environ
    rule = autoscale.policy(environ, settings.max_scale(environ))
    if rule is None:
        raise Stop("AUTOSCALE is off: the autoscaler has nothing to do")
    prometheus = environ.get("PROMETHEUS_URL", "http://prometheus:9090")
    figures = Figures()
    figures.serve()
    say(
        f"autoscaling web within {rule.low}-{rule.high} replicas: busy (CPU over WEB_CPUS) held near "
        f"{rule.target:g}, every {rule.period:g} s; in after {rule.down_after:g} s of low load"
    )
    history, since = [], time.monotonic()
    while True:
        started = time.monotonic()
        try:
            current = web.count()
        except Stop as error:  # said, and asked again at the next decision
            say(f"cannot count web's replicas: {error}")
            time.sleep(rule.period)
            continue
        decision, history = autoscale.decide(rule, current, busy(prometheus), started, history, since)
        figures.desired, figures.current = decision.replicas, current
        say(decision.reason)
        if decision.replicas != current:
            try:
                web.scale(decision.replicas)
                say(f"web at {decision.replicas} replicas, each one serving")
            except Stop as error:  # said, and tried again at the next decision
                say(f"scaling to {decision.replicas} failed: {error}")
            with contextlib.suppress(Stop):  # said at the next decision
                figures.current = web.count()
        time.sleep(max(0.0, rule.period - (time.monotonic() - started)))


# What make up does with the service: start it beside the stack, or stop it.

SETTINGS_FILE = Path("autoscale.env")
SERVICES = ("autoscaler", "docker-proxy")
PROFILES = ("autoscale", "monitoring")
# The settings the autoscaler needs besides docker-compose.yml's own variables.
OWN = ("COMPOSE_PROJECT_NAME", "MAX_SCALE", "AUTOSCALE", "ORCHESTRATOR", *autoscale.DEFAULTS)


def settings_file(environ):
    """autoscale.env's text: each variable docker-compose.yml reads, and the autoscaler's own, as
    make up has them from its environment (.env the autoscaler reads itself)."""
    names = sorted(
        set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", Path("docker-compose.yml").read_text())) | set(OWN)
    )
    lines = [f"{name}={environ[name]}" for name in names if environ.get(name) and "\n" not in environ[name]]
    return "# Written by make up for the autoscaler: the settings it ran with.\n" + "\n".join(lines) + "\n"


def running(compose):
    return bool(compose.containers("autoscaler"))


def start(compose, rule):
    """Prometheus, then the autoscaler and its proxy, with make up's settings."""
    monitor.main(compose.environ)
    environ = dict(
        compose.environ,
        COUNTER_DIR=os.getcwd(),
        HOST_USER=f"{os.getuid()}:{os.getgid()}",
        ORCHESTRATOR="compose",
    )
    environ["MOST_REPLICAS"] = str(rule.high)  # the socket proxy's bound
    SETTINGS_FILE.write_text(settings_file(environ))
    started = Compose(environ, profiles=PROFILES)
    or_explain(
        started, "starting the autoscaler", "up", "--detach", "--no-build", "--no-deps", "--wait", *SERVICES
    )
    logs = "'make logs SERVICE=autoscaler' says each decision"
    say(f"autoscaler: web within {rule.low}-{rule.high} replicas ({logs})")


def stop(compose):
    """The autoscaler stopped and removed; web stays at its size."""
    stopped = Compose(compose.environ, profiles=PROFILES)
    or_explain(stopped, "stopping the autoscaler", "rm", "--stop", "--force", *SERVICES)
