"""Web's replicas on Swarm: which of a service's tasks serve (one rule, over tasks as Docker's API
and `docker inspect` give them, for `make deploy` and the autoscaler alike), and, through Docker's
API (engine.py), how the autoscaler in its container counts and scales them."""

import json
import time

from control.errors import Stop


def serving(tasks):
    """The containers' short ids (the names the replicas answer with) of the tasks that run."""
    return [
        task["Status"]["ContainerStatus"]["ContainerID"][:12]
        for task in tasks
        if task["Status"]["State"] == "running"
        and (task["Status"].get("ContainerStatus") or {}).get("ContainerID")
    ]


def running(engine, name):
    """serving() of service NAME's tasks meant to run."""
    filters = json.dumps({"service": [name], "desired-state": ["running"]})
    return serving(engine.call("GET", "/tasks", {"filters": filters}))


def scale(engine, name, replicas, timeout):
    """Service NAME set to REPLICAS, its definition otherwise as it is (as `docker service scale`
    sends it), and waited for until that many tasks run (a task with a health check runs once
    healthy), or a Stop after TIMEOUT s."""
    found = engine.call("GET", f"/services/{name}")
    spec = found["Spec"]
    spec["Mode"]["Replicated"]["Replicas"] = replicas
    engine.call("POST", f"/services/{found['ID']}/update", {"version": found["Version"]["Index"]}, spec)
    deadline = time.monotonic() + timeout
    while len(running(engine, name)) != replicas:
        if time.monotonic() > deadline:
            raise Stop(
                f"{name} has {len(running(engine, name))} of {replicas} tasks running after {timeout} s"
            )
        time.sleep(1)
