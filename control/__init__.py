"""control: the counter stack's operations from the host, which `make` runs (`python3 -m control
COMMAND`, cli.py lists them) and the tests import, so that each fact the operations rely on has
one rule, in one module:

- the settings: the environment, then .env read with Compose's own rules, then the defaults
  (settings.py);
- the Redis topology, as the services in docker-compose.yml declare it (topology.py);
- which Redis instance is the primary: the one a strict majority of the sentinels name
  (sentinels.py);
- what a change replaces, in which order and why, under Compose and on Swarm (plan.py, from
  what runs: running.py, stale.py); the stack file Swarm gets (stackfile.py);
- the Redis group's wait, roll and planned switch, for Compose and Swarm alike (redis.py);
- which of web's tasks serve on Swarm (service.py).

Each operation is a module (up.py, deploy.py, bench.py, ...); Docker and Compose are reached
through their command lines, read as JSON, from docker.py and compose.py; the autoscaler on
Swarm, in a container with no Docker command line, reaches Docker's API itself (engine.py).
Standard library only, and Python 3.9 or newer: what a newcomer needs before `make up` stays
Docker with Compose v2, make and python3, with nothing to install first.
"""
