"""The stack under Compose, as every operation runs it: the Sentinel profile under
REDIS_MODE=sentinel, the sentinels' list that the app and the instances are given
(REDIS_SENTINELS, from the sentinel services in docker-compose.yml), and what runs, read from
`docker compose ps --format json`."""

import json
import os
import re

from control import docker, settings, topology
from control.errors import Stop

BACK_NETWORK = re.compile(r"([0-9]{1,3}\.){2}[0-9]{1,3}")
# `docker compose` ARGS that build the images: one at a time. Docker's classic builder, building
# the services that share a Dockerfile side by side, gives each a new image of its own for the
# same content, and a later build settles them on one of those: a change of image where nothing
# changed, which would replace Redis instances for nothing. One at a time, each finds the one
# before it in the cache.
BUILD = ("--parallel", "1", "--progress", "plain", "build")
PS_TRIES = 3


class Compose:
    def __init__(self, environ=None, redis_tls="off", profiles=()):
        self.environ = dict(os.environ if environ is None else environ)
        self.profiles = [option for profile in profiles for option in ("--profile", profile)]
        self.mode = settings.setting("REDIS_MODE", environ=self.environ)
        tls = settings.setting("REDIS_TLS", redis_tls, environ=self.environ)
        back = self.environ.get("BACK_NETWORK")
        if back and not BACK_NETWORK.fullmatch(back):
            raise Stop(
                f"BACK_NETWORK must be the first three numbers of a /24, such as 10.210.0, got '{back}'"
            )
        self.environ.update(REDIS_MODE=self.mode, REDIS_TLS=tls, COMPOSE_BAKE="false")

    def command(self, *args):
        """docker compose ARGS, with the Sentinel profile under REDIS_MODE=sentinel, and the
        profiles it was made with."""
        if not self.environ.get("REDIS_SENTINELS"):
            self.environ["REDIS_SENTINELS"] = topology.answer(self.declared(), "sentinel-list", [])
        profile = ["--profile", "sentinel"] if self.mode == "sentinel" else []
        return ["docker", "compose", *profile, *self.profiles, *args]

    def declared(self):
        """The Redis topology that docker-compose.yml declares (control/topology.py)."""
        done = docker.run(
            "docker", "compose", "--profile", "sentinel", "config", "--format", "json", env=self.environ
        )
        return topology.Topology(json.loads(done.stdout))

    def run(self, *args, check=True):
        return docker.run(*self.command(*args), check=check, env=self.environ)

    def shown(self, *args):
        return docker.shown(*self.command(*args), env=self.environ)

    def containers(self, service=None, running=True):
        """`ps --format json` of the project's containers (of `service`), running ones only or all.
        Compose lists, then inspects each: one removed in between (a replica leaving) fails the
        whole `ps`, which is asked again."""
        args = ["ps", "--format", "json", *(["--status", "running"] if running else ["--all"])]
        args += [service] if service else []
        for _ in range(PS_TRIES):
            done = self.run(*args, check=False)
            if done.returncode == 0:
                return docker.json_lines(done.stdout)
            if "No such container" not in done.stderr:
                break
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise Stop(f"docker compose ps failed: {last}")

    def running(self, service):
        """The ids of the service's running containers."""
        return [c["ID"] for c in self.containers(service)]

    def require_running_stack(self):
        if not self.containers("lb"):
            raise Stop("the stack is not running: start it with 'make up'")

    def published(self, service, port):
        """Where the service's PORT is published on this host, as host:port (None if it is not
        running); a wildcard binding (every interface) is reached on 127.0.0.1."""
        for container in self.containers(service):
            for publisher in container.get("Publishers") or []:
                if publisher.get("TargetPort") == port and publisher.get("PublishedPort"):
                    host = publisher.get("URL") or "0.0.0.0"
                    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
                    return f"{host}:{publisher['PublishedPort']}"
        return None

    def lb_address(self):
        """Where this process reaches the load balancer: LB_ADDRESS inside the stack (the
        autoscaler), else where its port is published."""
        return self.environ.get("LB_ADDRESS") or self.published("lb", 8080)
