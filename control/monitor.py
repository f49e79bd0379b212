"""`make monitor`: Prometheus and the nginx and Redis exporters beside the running stack (Compose
profile monitoring), then where Prometheus's UI is. Its rules and their tests: monitoring/."""

import contextlib
import io
import json
import sys
import time
from pathlib import Path

from control import docker, probes, redis, secrets, topology
from control.compose import Compose
from control.errors import Stop
from control.explain import or_explain
from control.say import say

TARGETS = Path("monitoring/targets")
PASSWORDS = Path("secrets/redis_exporter_passwords.json")


def write_targets(declared, mode, scheme):
    """What Prometheus and the exporter read, from the topology in docker-compose.yml: every
    instance and sentinel of this REDIS_MODE, and the exporter's password for each address
    (rediss:// is over TLS, as REDIS_TLS=on has them)."""
    TARGETS.mkdir(parents=True, exist_ok=True)
    for kind in ("redis", "sentinel"):
        targets = topology.targets(declared, kind, mode, scheme)
        (TARGETS / f"{kind}.json").write_text(json.dumps(targets) + "\n")
    password = Path("secrets/redis_exporter_password").read_text().strip()
    PASSWORDS.write_text(json.dumps(topology.exporter_passwords(declared, password, scheme)))
    PASSWORDS.chmod(0o644)  # read by the exporter's user, as the other secrets


def main(environ):
    docker.require_docker()
    compose = Compose(environ, profiles=["monitoring"])
    compose.require_running_stack()
    with contextlib.redirect_stdout(io.StringIO()):  # what was made: said by make secrets
        secrets.main(environ)
    declared = compose.declared()
    group = redis.Group(declared, compose.mode, redis.compose_reach(compose))
    # A stack started before the exporter's Redis user existed learns of it now.
    for name in group.instances:
        if compose.running(name) and group.admin(name, "ACL", "LOAD") != "OK":
            raise Stop(f"{name} refused to reload its users (make secrets made them)")
    write_targets(declared, compose.mode, "rediss" if compose.environ["REDIS_TLS"] == "on" else "redis")
    services = ("prometheus", "nginx-exporter", "redis-exporter")
    or_explain(compose, "starting monitoring", "up", "--detach", "--wait", *services)
    address = compose.published("prometheus", 9090)
    deadline = time.monotonic() + 60
    while probes.request(address, "GET", "/-/ready")[0] != 200:
        if time.monotonic() > deadline:
            logs = compose.run("logs", "--no-color", "--tail", "10", "prometheus", check=False)
            print(logs.stdout + logs.stderr, end="", file=sys.stderr)
            raise Stop(f"Prometheus did not become ready at {address} (its last log lines are above)")
        time.sleep(1)
    say(f"Prometheus: http://{address}/  (targets: /targets, alerts: /alerts)")
