"""What `make up` and `make deploy` do to a running stack, in order, and why: pure functions from
what is declared and what runs (read by running.py) to a list of steps, each with the line that
says it. control/up.py and control/deploy.py carry the steps out; `make up PLAN=1`
and `make deploy PLAN=1` print them and change nothing.

Under Compose (`plan`), the order, each service replaced its own way:
  start      nothing runs, or what runs cannot be kept (a switch of REDIS_MODE to sentinel, no web
             replica left, a switch of REDIS_TLS): the stack starts anew
  redis      the Redis group's changed members, rolled one at a time: sentinels, replicas, then a
             planned switch away from the primary before it is replaced; the one Redis of single
             mode: replaced, an outage said first
  web        a change: new replicas first, a quarter at a time; or only the number: scaled
  lb         a new image or settings: its container replaced; an edit of lb/site/nginx.conf: reloaded
  replace    any other changed service, replaced

On Swarm (`swarm_plan`), a service is replaced where its definition (the stack file's counter.spec
label) differs from the deployed one's: the Redis group's members under Sentinel rolled one at a
time after the rest is deployed (roll); web one task at a time, new first; the others stopped
first; and a switch of REDIS_TLS updates the whole group at once (update). On a deployed stack, a
service new to it is started (add: the autoscaler and monitoring under AUTOSCALE) and one no longer
in it removed (remove).
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    action: str  # start, redis, web, scale, lb, reload, replace; on Swarm: roll, update, add, remove
    service: str  # the service it changes ("" for the whole stack)
    reason: str  # the line that says it


@dataclass
class Running:
    """What runs now: the services with a running container, why each stale one differs from what
    is declared (control/stale.py), the web replicas, REDIS_TLS as the running Redis has it, and
    whether nginx runs another nginx.conf than lb/site/ holds."""

    services: set = field(default_factory=set)
    stale: dict = field(default_factory=dict)
    web: int = 0
    tls: str = "off"
    lb_edited: bool = False


def surge_of(replicas):
    """New web replicas a round: a quarter, rounded up (Kubernetes' default surge)."""
    return (replicas + 3) // 4


def plan(topology, mode, tls, replicas, running):
    """The steps that take what runs to what is declared with `replicas` web replicas."""
    anew = start_anew(topology, mode, tls, replicas, running)
    if anew:
        return [Step("start", "", anew)]
    steps = redis_steps(topology, mode, running.stale)
    if "web" in running.stale:
        surge = surge_of(replicas)
        steps.append(
            Step("web", "web", f"web: {running.stale['web']}; replaced new replicas first, {surge} at a time")
        )
    elif running.web != replicas:
        reason = f"web: {running.web} replicas, {replicas} asked: scaled (none replaced)"
        steps.append(Step("scale", "web", reason))
    if "lb" in running.stale:
        reason = (
            f"lb: {running.stale['lb']}; its container replaced (connections refused or cut for a moment)"
        )
        steps.append(Step("lb", "lb", reason))
    elif running.lb_edited:
        steps.append(Step("reload", "lb", "lb: lb/site/nginx.conf changed; nginx reloads it gracefully"))
    group = set(topology.instances + topology.sentinels)
    for service in sorted(set(running.stale) - group - {"web", "lb"}):
        steps.append(Step("replace", service, f"{service}: {running.stale[service]}"))
    return steps


def start_anew(topology, mode, tls, replicas, running):
    """Why the stack starts anew rather than being changed in place, or None."""
    if not running.services:
        return f"starting {replicas} web replicas (Redis: {mode})"
    if mode == "sentinel" and topology.sentinels[0] not in running.services:
        return "switching to REDIS_MODE=sentinel: the stack starts anew in that mode (Redis restarts once)"
    if "web" not in running.services:
        return "no web replica is running: the stack starts anew"
    if running.tls != tls:
        return (
            f"switching REDIS_TLS to {tls}: Redis, the sentinels and web restart together (members over "
            "TLS and in clear cannot talk to each other), a few seconds without counting (503s with "
            "Retry-After)"
        )
    return None


def redis_steps(topology, mode, stale):
    """The Redis group's changed members, sentinels first, then the instances."""
    if mode == "single":
        one = topology.single
        return [Step("redis", one, f"{one}: {stale[one]}")] if one in stale else []
    members = [name for name in topology.sentinels + topology.instances if name in stale]
    return [Step("redis", name, f"{name}: {stale[name]}") for name in members]


@dataclass(frozen=True)
class Service:
    """A service of the stack file, or as deployed: its definition's digest and its image."""

    spec: str
    image: str


def swarm_plan(topology, mode, tls, declared, deployed, deployed_tls):
    """The steps of `make deploy` on a deployed stack: `declared` and `deployed` are {service:
    Service} (the stack file's, and the stack's services as deployed); `deployed_tls`, REDIS_TLS as
    the deployed Redis has it (None where none is deployed)."""
    group = set(topology.instances + topology.sentinels)
    switching = deployed_tls is not None and deployed_tls != tls
    steps = []
    for name, want in declared.items():
        have = deployed.get(name)
        if have is None and deployed:
            steps.append(Step("add", name, f"{name}: new to the stack; started"))
        if have is None or have.spec == want.spec:
            continue
        old = have.image.split("@")[0]
        reason = "its settings changed" if old == want.image else f"its image changed ({old} -> {want.image})"
        if name in group and switching:
            reason = (
                f"REDIS_TLS switched to {tls}; updated with the rest of the group at once, a few seconds "
                "without counting (503s with Retry-After)"
            )
            steps.append(Step("update", name, f"{name}: {reason}"))
        elif name in group and mode == "sentinel":
            reason += "; replaced one at a time (sentinels, replicas, a planned switch, the old primary)"
            steps.append(Step("roll", name, f"{name}: {reason}"))
        elif name == "web":
            steps.append(Step("update", name, f"web: {reason}; replaced one task at a time, new first"))
        else:
            steps.append(Step("update", name, f"{name}: {reason}; replaced (stop first)"))
    for name in deployed:
        if name not in declared:
            steps.append(Step("remove", name, f"{name}: no longer in the stack; removed"))
    return steps
