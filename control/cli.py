"""`python3 -m control COMMAND [ARGUMENTS]`, as `make` runs it.

Operations, each the make target of the same name (but rotate-certs, redis-mode and lab-env),
with their settings from the environment:
  up                       build and start the stack with SCALE web replicas, or ship what
                           changed to the running one (up.py)
  scale                    the running stack's web tier to SCALE replicas (scale.py)
  autoscaler               the autoscaler's loop, in its container (autoscaler.py; make up
                           AUTOSCALE=MIN-MAX starts it)
  reset                    the counter back to zero (reset.py)
  switch                   a planned switch of the Redis primary under Sentinel (switch.py)
  load, load-ui, check     locust against the running stack, and the exactness verdict (load.py)
  monitor                  Prometheus and the exporters beside the running stack (monitor.py)
  bench                    throughput, latency and CPU per tier against baselines (bench.py)
  deploy, deploy-scale, deploy-switch, undeploy
                           the stack on Docker Swarm (deploy.py)
  swarm-lab, swarm-lab-down, lab-env
                           the swarm lab: three Docker engines in containers, and a registry;
                           lab-env prints the settings that point make at it (lab.py)
  secrets                  Redis's passwords, users and TLS certificates, made where missing
                           (secrets.py; make up and make deploy run it too)
  rotate-certs             the running stack takes up renewed certificates (rotate.py; run by
                           make secrets ROTATE=certs)
  redis-mode               a switch of REDIS_MODE that keeps the count (redis_mode.py; run by
                           make up)
  offline-images           stand-ins for the base images from Debian's packages (images.py)

Facts:
  setting NAME [DEFAULT]   NAME's value: the environment, then .env, then DEFAULT (or its own),
                           checked (settings.py)
  topology WHAT [ARGS]     what docker-compose.yml declares of Redis, from `docker compose config
                           --format json` on standard input (topology.py says what WHAT may be)
  stackfile ARGS           the stack file Swarm gets, from `docker compose config --format json`
                           on standard input (stackfile.py)

An operation that cannot go on says why in one line on standard error, after its name, and exits
1 (a fact, without the name); a command line that is wrong exits 2."""

import os
import sys

from control import (
    autoscaler,
    bench,
    deploy,
    images,
    lab,
    load,
    monitor,
    redis_mode,
    reset,
    rotate,
    scale,
    secrets,
    settings,
    stackfile,
    switch,
    topology,
    up,
)
from control.errors import Stop

OPERATIONS = {
    "up": up.main,
    "autoscaler": autoscaler.main,
    "secrets": secrets.main,
    "bench": bench.main,
    "offline-images": images.main,
    "swarm-lab": lab.up,
    "swarm-lab-down": lab.down,
    "lab-env": lab.env,
    "deploy": deploy.deploy,
    "deploy-scale": deploy.scale,
    "deploy-switch": deploy.switch,
    "undeploy": deploy.remove,
    "scale": scale.main,
    "reset": reset.main,
    "switch": switch.main,
    "rotate-certs": rotate.main,
    "load": load.load,
    "load-ui": load.load_ui,
    "check": load.check,
    "monitor": monitor.main,
    "redis-mode": redis_mode.main,
}


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
        return fact(command, args)
    except Stop as error:
        print(error, file=sys.stderr)
        return 1


def fact(command, args):
    if command == "setting" and len(args) in (1, 2):
        print(settings.setting(*args))
    elif command == "topology" and args:
        return topology.main(args)
    elif command == "stackfile":
        return stackfile.main(args)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0
