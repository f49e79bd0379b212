"""`make up`: builds and starts the stack with SCALE web replicas, waits until it answers, prints
the URL. On a running stack it ships what changed, serving throughout, in the steps plan.py plans
(an unchanged stack is left as it is); PLAN=1 builds the images (which changes nothing that runs),
says the steps, and stops there. Compose would recreate every changed container of a service at
once; here each service is replaced its own way, each step said and timed:
  the Redis group  one member at a time (redis.py's roll); the one Redis: replaced, an outage
                   said first
  web              new replicas first: a quarter of them at a time (at least one) start, become
                   healthy and ready, and are reached through nginx; then as many old ones stop
                   (each finishing its requests) and go. A new replica that never gets there is
                   removed and the old ones serve on, untouched.
  lb               an edit of lb/site/nginx.conf: nginx's graceful reload; a new image or new
                   settings: the container replaced (connections refused or cut for a moment)"""

import json
import sys
import time

from control import (
    autoscale,
    autoscaler,
    docker,
    plan,
    probes,
    redis,
    redis_mode,
    running,
    secrets,
    settings,
    stale,
)
from control.compose import BUILD, Compose
from control.errors import Stop
from control.explain import or_explain, quiet_or_explain
from control.reports import new_report_dir
from control.say import say, timed
from control.scale import scale_web

# How long a new web replica may take to become healthy, then ready (/readyz: Redis answers it).
WEB_HEALTHY_WAIT, WEB_READY_WAIT = 90, 30
# s the Redis group, then the load balancer, may take to answer once the stack runs
GROUP_WAIT, READY_WAIT = 60, 60


def main(environ):
    replicas = settings.web_replicas(environ=environ)
    rule = autoscale.policy(environ, settings.max_scale(environ))
    if rule and "SCALE" in environ:
        raise settings.SettingError("give SCALE or AUTOSCALE, not both: the autoscaler sets web's size")
    planning = settings.plan_only(environ)
    compose = Compose(environ)
    docker.require_docker()
    secrets.main(environ)
    if not planning:
        redis_mode.main(environ)
    say("building the images")
    timed("images built", quiet_or_explain, compose, "building the images", *BUILD)
    if rule:
        scaler = Compose(compose.environ, profiles=autoscaler.PROFILES)
        quiet_or_explain(scaler, "building the autoscaler's image", *BUILD, *autoscaler.SERVICES)
        replicas = autoscale.within(rule, len(compose.running("web")))
    if not planning and autoscaler.running(compose):
        say("the autoscaler stops while make up changes the stack")
        autoscaler.stop(compose)
    ship(compose, replicas, planning)
    if planning:
        return
    redis.compose_group(compose).wait(GROUP_WAIT)
    address = compose.lb_address()
    probes.wait_ready(address, READY_WAIT)
    if rule:
        autoscaler.start(compose, rule)
    say(f"counter is up: http://{address}/  ({replicas} replicas{', autoscaled' if rule else ''})")


def ship(compose, replicas, planning):
    """What changed shipped, then every service running with REPLICAS web replicas, in the steps
    plan.py plans, each with the line that says it; with `planning`, only said."""
    declared = compose.declared()
    now = running.read(compose, declared)
    steps = plan.plan(declared, compose.mode, compose.environ["REDIS_TLS"], replicas, now)
    if planning:
        say(f"the plan for SCALE={replicas} (PLAN=1: nothing is changed):")
        for step in steps or [plan.Step("", "", "nothing changed: no container is replaced")]:
            say(f"  {step.reason}")
        return
    if steps and steps[0].action == "start":
        say(steps[0].reason)
        up = ("up", "--detach", "--no-build", "--remove-orphans", "--scale", f"web={replicas}", "--wait")
        or_explain(compose, "starting the stack", *up)
        return
    changes = [step.reason for step in steps if step.action != "scale"]
    if changes:
        say(f"shipping {len(changes)} changes, in this order:")
        for reason in changes:
            say(f"  {reason}")
    else:
        say("nothing changed: no container is replaced")
    members = []
    for step in steps:
        if step.action == "redis":
            members.append(step.service)
            continue
        ship_group(compose, declared, members)
        members = []
        ship_step(compose, step, replicas)
    ship_group(compose, declared, members)
    # Whatever is not running starts; nothing running is recreated.
    up = ("up", "--detach", "--no-build", "--no-recreate", "--remove-orphans", "--scale", f"web={replicas}")
    or_explain(compose, "starting the stack", *up, "--wait")


def replace(compose, service, *wait):
    """The service's container replaced by one of its new definition (started, or with "--wait"
    healthy)."""
    or_explain(compose, f"replacing {service}", "up", "--detach", "--no-build", "--no-deps", *wait, service)


def ship_group(compose, declared, members):
    """The Redis group's changed members: the one Redis replaced (an outage, said first), or under
    Sentinel the group rolled one member at a time."""
    if not members:
        return
    if compose.mode == "single":
        one = members[0]
        say(
            f"{one} is the one Redis: replacing it is an outage of a second or a few, more with more "
            "data to load (503s with Retry-After); REDIS_MODE=sentinel avoids it"
        )
        timed(f"{one} replaced", replace, compose, one, "--wait")
    else:
        redis.compose_group(compose, declared).roll(lambda name: replace(compose, name), members)


def ship_step(compose, step, replicas):
    if step.action == "web":
        remove_failing_web(compose)
        timed("web replaced", roll_web, compose, replicas)
    elif step.action == "scale":
        timed(f"web scaled to {replicas} replicas", scale_web, compose, replicas)
    elif step.action == "lb":
        timed("lb replaced", replace, compose, "lb", "--wait")
    elif step.action == "reload":
        timed("lb reloaded", reload_lb, compose)
    elif step.action == "replace":
        timed(f"{step.service} replaced", replace, compose, step.service, "--wait")
    else:
        raise Stop(f"no such step in the plan: {step.action}")


def reload_lb(compose):
    if docker.passed(*compose.command("exec", "-T", "lb", "counter-lb", "reload"), env=compose.environ) != 0:
        raise Stop(
            "nginx refused lb/site/nginx.conf (the reason is above): the running configuration serves on"
        )


def short_ids(ids):
    return "".join(f"{i[:12]} " for i in ids)


def web_ids(compose):
    """Every web container's id, running or not."""
    return [c["ID"] for c in compose.containers("web", running=False)]


def remove_failing_web(compose):
    """Web replicas that keep failing (a broken release shipped by hand) serve nothing, and would
    hold up the wait for the new replicas' health: they go first."""
    ids = web_ids(compose)
    if not ids:
        return
    found = json.loads(docker.run("docker", "inspect", *ids).stdout)
    failing = [c["Id"] for c in found if stale.keeps_failing(c)]
    if failing:
        say(f"web: {short_ids(failing)}keep failing and serve nothing: removed first")
        docker.run("docker", "rm", "--force", *failing)


def roll_web(compose, target):
    """Every web replica replaced with one of the new image and settings, new ones first."""
    surge = plan.surge_of(target)
    old, new, started = web_ids(compose), [], []
    while old or len(new) < target:
        added = min(target - len(new), surge)
        if added > 0:
            started = start_replicas(compose, len(old) + len(new) + added, old + new)
            new += started
        retire = min(max(len(new) + len(old) - target, added), len(old))
        if retire > 0:
            say(f"web: {short_ids(started)}serving; {short_ids(old[:retire])}leaving")
            docker.run("docker", "stop", *old[:retire])
            docker.run("docker", "rm", *old[:retire])
            old = old[retire:]


def start_replicas(compose, count, keep):
    """Web replicas up to COUNT, keeping the running ones (KEEP), each new one waited for until it
    is healthy, ready and reached through nginx: their ids. A new replica that does not get there
    is removed, with the old ones untouched (refuse)."""
    done = compose.run(
        *("up", "--detach", "--no-build", "--no-deps", "--no-recreate", "--scale", f"web={count}"),
        *("--wait", "--wait-timeout", str(WEB_HEALTHY_WAIT), "web"),
        check=False,
    )
    started = [i for i in web_ids(compose) if i not in keep]
    if done.returncode != 0:
        refuse(started, "did not become healthy", (done.stdout + done.stderr).splitlines())
    for replica in started:
        status = replica_ready(replica)
        if status != "200":
            refuse(
                started,
                f"is not ready: /readyz answered {status} for {WEB_READY_WAIT} s (can it reach Redis?)",
            )
    probes.wait_served_by_all(compose.lb_address(), [i[:12] for i in started])
    return started


# Run by the replica's bash (its image has no HTTP client): /readyz's status, or nothing.
READYZ = (
    'exec 3<>/dev/tcp/127.0.0.1/8000 && printf "GET /readyz HTTP/1.0\\r\\n\\r\\n" >&3 '
    '&& read -r -t 2 _ status _ <&3 && echo "$status"'
)


def replica_ready(replica):
    """/readyz's status inside a replica, once it is 200 or WEB_READY_WAIT has passed."""
    deadline = time.monotonic() + WEB_READY_WAIT
    while True:
        done = docker.run("docker", "exec", replica, "bash", "-c", READYZ, check=False)
        status = done.stdout.strip() if done.returncode == 0 else "000"
        if status == "200" or time.monotonic() >= deadline:
            return status or "000"
        time.sleep(0.5)


def refuse(started, what, output=()):
    """The new replicas removed, the first one's log kept, and a Stop that says why."""
    if output:
        print("\n".join(output[-5:]), file=sys.stderr)
    if not started:
        raise Stop("web's new replicas did not start; the old replicas serve on, unchanged")
    first = started[0]
    log = new_report_dir(prefix="web-refused-") / f"web-{first[:12]}.log"
    logs = docker.run("docker", "logs", first, check=False)
    log.write_text(logs.stdout + logs.stderr)
    lines = log.read_text().splitlines()
    print("\n".join(lines[-5:]), file=sys.stderr)
    last = ([line for line in lines if line.strip()] or [""])[-1][:160]
    docker.run("docker", "rm", "--force", *started, check=False)
    ends = f" (its log ends: {last})" if last else ""
    raise Stop(
        f"web's new replica {first[:12]} {what}{ends}; the change is not shipped and the old replicas "
        f"serve on, unchanged (its whole log: {log})"
    )
