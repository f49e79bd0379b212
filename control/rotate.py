"""After `make secrets ROTATE=certs`: the running Compose stack takes up its renewed certificates
with no request lost. Compose mounts each secret file as it is, and secrets.py rewrote them
in place, so every container sees the new ones at once: each Redis instance reloads its own
(CONFIG SET tls-cert-file: new connections get the new certificate, open ones carry on); the
sentinels, which cannot reload, restart one at a time, each back among the others before the
next, so a majority always answers the app; the web tier reads its certificate at every new
connection; the exporter restarts. On Swarm a secret cannot change: the next `make deploy` ships
the new ones, web one replica at a time, the Redis group one member at a time."""

from control import docker, redis, running
from control.compose import Compose
from control.errors import Stop
from control.say import say, timed


def main(environ):
    docker.require_docker()
    compose = Compose(environ)
    if not compose.containers("lb"):
        say("no stack runs here: 'make up' or 'make deploy' takes the new certificates up")
        return
    declared = compose.declared()
    # The mode and TLS the stack runs with, whatever the environment says.
    compose.mode = compose.environ["REDIS_MODE"] = "sentinel"  # so that the sentinels are asked for
    if not compose.running(declared.sentinels[0]):
        compose.mode = compose.environ["REDIS_MODE"] = "single"
    group = redis.Group(declared, compose.mode, redis.compose_reach(compose))
    if running.tls_of(running.containers(compose), group.instances[0]) != "on":
        say("the running stack's Redis is not over TLS (REDIS_TLS=off): nothing to take up")
        return
    for name in group.instances:
        if not compose.running(name):
            continue
        if group.admin(name, "CONFIG", "SET", "tls-cert-file", "/run/secrets/redis_tls") != "OK":
            raise Stop(f"{name} did not reload its certificate (see 'make logs SERVICE={name}')")
        say(f"{name} reloaded its certificate")

    def restart(name):
        compose.run("restart", name, check=False)

    for name in group.sentinels:
        if compose.running(name):
            timed(
                f"sentinel {name} restarted with its new certificate, and back among the others",
                group.replace_member,
                restart,
                name,
            )
    if compose.running("redis-exporter"):
        if compose.run("--profile", "monitoring", "restart", "redis-exporter", check=False).returncode != 0:
            raise Stop("the exporter did not restart")
        say("redis-exporter restarted with its new certificate")
    say("the stack uses the new certificates (web: at each new connection to Redis)")
