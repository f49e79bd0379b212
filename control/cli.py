"""`python3 -m control COMMAND [ARGUMENTS]`, as `make` and the scripts run it.

Operations (the make target of the same name, where there is one), with their settings from the
environment:
  up                       build and start the stack with SCALE web replicas, or ship what
                           changed to the running one (up.py)
  scale                    the running stack's web tier to SCALE replicas (scale.py)
  reset                    the counter back to zero (reset.py)
  rotate-certs             the running stack takes up renewed certificates (rotate.py; run by
                           make secrets ROTATE=certs)
  load, load-ui, check     locust against the running stack, and the exactness verdict (load.py)
  monitor                  Prometheus and the exporters beside the running stack (monitor.py)
  redis-mode               a switch of REDIS_MODE that keeps the count (redis_mode.py; run by make up)

The Redis group's steps, for the scripts that are still bash (redis.py):
  redis-wait SECONDS       under Compose, until the group can take a failover and acknowledge
                           increments
  swarm-redis-wait --reach CONTAINER SECONDS
  swarm-redis-roll --reach CONTAINER --stack STACK --replicas N --image SERVICE=IMAGE...
                   --resolve WHEN --timeout SECONDS NAME...
                           the same wait on Swarm, reached from CONTAINER; and the roll of the
                           changed members NAME..., one at a time, each deployed (swarm.py) from
                           the Compose configuration on standard input

Facts, for the scripts that are still bash:
  setting NAME [DEFAULT]   NAME's value: the environment, then .env, then DEFAULT (or its own),
                           checked (settings.py)
  topology WHAT [ARGS]     what docker-compose.yml declares of Redis, from `docker compose config
                           --format json` on standard input (topology.py says what WHAT may be)
  swarm-steps STACK        what `make deploy` does to the deployed STACK (plan.py), from the stack
                           file on standard input: a line a step, its action, its service and the
                           line that says it, tab-separated
  stackfile ARGS           the stack file Swarm gets, from `docker compose config --format json`
                           on standard input (stackfile.py)

An operation that cannot go on says why in one line on standard error, after its name, and exits
1 (a fact, without the name: its caller says whose it is); a command line that is wrong exits 2."""

import argparse
import json
import os
import sys

from control import (
    load,
    monitor,
    plan,
    redis,
    redis_mode,
    reset,
    rotate,
    running,
    scale,
    settings,
    stackfile,
    swarm,
    topology,
    up,
)
from control.compose import Compose
from control.errors import Stop

OPERATIONS = {
    "up": up.main,
    "scale": scale.main,
    "reset": reset.main,
    "rotate-certs": rotate.main,
    "load": load.load,
    "load-ui": load.load_ui,
    "check": load.check,
    "monitor": monitor.main,
    "redis-mode": redis_mode.main,
}
GROUP_STEPS = ("redis-wait", "swarm-redis-wait", "swarm-redis-roll")


def main(argv):
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command in OPERATIONS and not args:
        try:
            return OPERATIONS[command](os.environ) or 0
        except Stop as error:
            print(f"{command}: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
    try:
        if command in GROUP_STEPS and args:
            group_step(command, args)
            return 0
        return fact(command, args)
    except Stop as error:
        print(f"{command}: {error}" if command in GROUP_STEPS else error, file=sys.stderr)
        return 1


def fact(command, args):
    if command == "setting" and len(args) in (1, 2):
        print(settings.setting(*args))
    elif command == "topology" and args:
        return topology.main(args)
    elif command == "swarm-steps" and len(args) == 1:
        for step in swarm_steps(args[0], json.load(sys.stdin)):
            print(f"{step.action}\t{step.service}\t{step.reason}")
    elif command == "stackfile":
        return stackfile.main(args)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


def group_step(command, args):
    """One of the Redis group's steps (GROUP_STEPS), as make up and make deploy take them."""
    if command.startswith("swarm-"):
        compose = Compose(os.environ, redis_tls="on")
        parser = argparse.ArgumentParser(prog=f"python3 -m control {command}")
        parser.add_argument("--reach", required=True)
        if command == "swarm-redis-roll":
            for option in ("--stack", "--resolve"):
                parser.add_argument(option, required=True)
            parser.add_argument("--replicas", type=int, required=True)
            parser.add_argument("--timeout", type=int, required=True)
            parser.add_argument("--image", action="append", default=[], metavar="SERVICE=IMAGE")
        parser.add_argument("what", nargs="+")
        options = parser.parse_args(args)
        reach = swarm.reach(options.reach)
        acknowledging = int(settings.setting("REDIS_ACK_REPLICAS", "1", environ=compose.environ))
        group = redis.Group(compose.declared(), compose.mode, reach, acknowledging)
    else:
        compose = Compose(os.environ)
        options = argparse.Namespace(what=args)
        group = redis.compose_group(compose)
    if command.endswith("-wait"):
        group.wait(int(options.what[0]))
    else:
        images = dict(pair.split("=", 1) for pair in options.image)
        deployment = swarm.Deployment(
            options.stack,
            options.replicas,
            images,
            options.resolve,
            json.load(sys.stdin),
            options.timeout,
            options.what,
        )
        group.roll(deployment.replace, options.what)


def swarm_steps(stack, stack_file):
    """plan.swarm_plan for the deployed STACK and its new stack file."""
    compose = Compose(os.environ, redis_tls="on")
    declared = compose.declared()
    services = stack_file["services"]
    want = {
        name: plan.Service(s["deploy"]["labels"]["counter.spec"], s["image"]) for name, s in services.items()
    }
    names = [declared.single, *[name for name in services if name != declared.single]]
    have, tls = running.deployed(stack, names)
    return plan.swarm_plan(declared, compose.mode, compose.environ["REDIS_TLS"], want, have, tls)
