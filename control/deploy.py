"""`make deploy`, `make deploy-scale`, `make deploy-switch`, `make undeploy`: the stack on Docker
Swarm, as stack STACK (counter), on the swarm the Docker CLI points at:
  deploy  build the images, tag them by content (push them to REGISTRY), deploy, wait until served
  scale   change web to SCALE replicas with no downtime, waiting until they all serve
  switch  a planned switch of the Redis primary under Sentinel (switch.py's)
  remove  remove the stack; its Redis volume (the count) stays unless REMOVE_DATA=yes
On Swarm, Redis's traffic crosses the network between machines: over TLS unless REDIS_TLS=off (in
the environment or .env). How Swarm differs from Compose is all in stackfile.py; what a deploy
replaces, in plan.py; the Redis group's roll, in redis.py and swarm.py."""

import contextlib
import io
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

from control import (
    autoscale,
    autoscaler,
    docker,
    monitor,
    plan,
    probes,
    redis,
    running,
    secrets,
    service,
    settings,
    stackfile,
    topology,
)
from control.compose import BUILD, Compose
from control.errors import Stop
from control.explain import quiet_or_explain
from control.say import say, timed
from control.swarm import Deployment, reach
from control.switch import planned

STACK = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
REGISTRY = re.compile(r"[A-Za-z0-9.-]+:[0-9]+")
GROUP_WAIT, READY_WAIT, REMOVE_WAIT = 120, 60, 60  # s


class Swarm:
    """The stack STACK on the swarm, with its settings checked."""

    def __init__(self, environ):
        self.environ = environ
        self.stack = environ.get("STACK") or "counter"
        if not STACK.fullmatch(self.stack):
            raise settings.SettingError(
                f"STACK must be a name of lower-case letters, digits, - and _, got '{self.stack}'"
            )
        self.timeout = settings.whole_number(
            "DEPLOY_TIMEOUT", environ.get("DEPLOY_TIMEOUT") or "180", 10, 3600
        )
        self.compose = Compose(environ, redis_tls="on")
        self.profiles = ()

    def autoscaled(self, rule):
        """The stack with the autoscaler, its socket proxy and the monitoring (`make deploy
        AUTOSCALE=MIN-MAX`), their settings written as make up writes them, for this stack."""
        self.profiles = autoscaler.PROFILES
        environ = {
            **self.compose.environ,
            "COMPOSE_PROJECT_NAME": self.stack,
            "ORCHESTRATOR": "swarm",
            "MOST_REPLICAS": str(rule.high),  # the socket proxy's bound
        }
        autoscaler.SETTINGS_FILE.write_text(autoscaler.settings_file(environ))
        self.compose = Compose(environ, redis_tls="on", profiles=self.profiles)
        scheme = "rediss" if self.compose.environ["REDIS_TLS"] == "on" else "redis"
        monitor.write_targets(self.compose.declared(), self.compose.mode, scheme)

    def require_swarm(self):
        docker.require_docker()
        state = docker.run(
            "docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"
        ).stdout.split()
        if state == ["active", "false"]:
            raise Stop(
                "this Docker engine is a swarm worker: point the Docker CLI at a manager "
                "(DOCKER_HOST or docker context)"
            )
        if state != ["active", "true"]:
            raise Stop(
                "this Docker engine is not in swarm mode: make or join a swarm first "
                "('docker swarm init'), then deploy"
            )

    def service(self, name):
        """`docker service inspect` of the stack's service NAME, or None where it is not deployed."""
        done = docker.run("docker", "service", "inspect", f"{self.stack}_{name}", check=False)
        return json.loads(done.stdout)[0] if done.returncode == 0 else None

    def require_stack(self):
        if self.service("web") is None:
            raise Stop(f"no stack '{self.stack}' on this swarm: deploy it with 'make deploy'")

    def lb_address(self):
        """HOST:PORT of a load balancer: this host when one runs on this engine's node, else the first
        node that runs one, at the port the stack publishes."""
        ports = self.service("lb")["Spec"].get("EndpointSpec", {}).get("Ports", [])
        port = ports[0]["PublishedPort"]
        tasks = docker.run(
            "docker",
            "service",
            "ps",
            f"{self.stack}_lb",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Node}}",
        )
        node = tasks.stdout.split()[0]
        if (
            not self.environ.get("DOCKER_HOST")
            and node == docker.run("docker", "info", "--format", "{{.Name}}").stdout.strip()
        ):
            return f"127.0.0.1:{port}"
        host = docker.run("docker", "node", "inspect", "--format", "{{.Status.Addr}}", node).stdout.strip()
        return f"{host}:{port}"

    def running_replicas(self):
        """The web replicas running now, by the names they answer with (their containers' short ids)."""
        tasks = docker.run(
            "docker", "service", "ps", f"{self.stack}_web", "--filter", "desired-state=running", "--quiet"
        ).stdout.split()
        if not tasks:
            return []
        return service.serving(json.loads(docker.run("docker", "inspect", *tasks).stdout))

    def converged(self, deployment, names=None):
        """Until every service of the stack (or each named) runs all its tasks of its definition."""
        if names is None:
            listed = docker.run(
                "docker", "stack", "services", "--format", "{{.Name}}", self.stack
            ).stdout.split()
            names = [name.removeprefix(f"{self.stack}_") for name in listed]
        for name in names:
            deployment.converged(name)


def deploy(environ):
    swarm = Swarm(environ)
    replicas = settings.web_replicas(environ=environ)
    rule = autoscale.policy(environ, settings.max_scale(environ))
    if rule and "SCALE" in environ:
        raise settings.SettingError("give SCALE or AUTOSCALE, not both: the autoscaler sets web's size")
    planning = settings.plan_only(environ)
    registry = environ.get("REGISTRY", "")
    if registry and not REGISTRY.fullmatch(registry):
        raise settings.SettingError(
            f"REGISTRY must be a registry's host:port, such as 127.0.0.1:5000, got '{registry}'"
        )
    swarm.require_swarm()
    web = swarm.service("web")
    if "SCALE" not in environ and web:  # a redeploy keeps the replicas it has; a first deploy the default
        replicas = web["Spec"]["Mode"]["Replicated"]["Replicas"]
    if rule:
        replicas = autoscale.within(rule, replicas if web else rule.low)
    require_registry(registry)
    with contextlib.redirect_stdout(io.StringIO()):  # what was made: said by make secrets
        secrets.main(environ)
    if rule:
        swarm.autoscaled(rule)
    tags, resolve = built(swarm, registry)
    compose = swarm.compose
    declared = compose.declared()
    if not planning:
        place(declared, compose.mode)  # labels the nodes for the Redis group: a change
    config = json.loads(compose.run("config", "--format", "json").stdout)
    deployment = Deployment(swarm.stack, replicas, tags, resolve, config, swarm.timeout, [])
    roll = ship_plan(swarm, deployment, declared, web is not None, planning)
    if not planning:
        address = ship(swarm, deployment, declared, roll)
        say(f"stack {swarm.stack} is up: http://{address}/  ({replicas} replicas; Redis: {compose.mode})")
        if rule:
            logs = f"'docker service logs {swarm.stack}_autoscaler' says each decision"
            say(f"autoscaler: web within {rule.low}-{rule.high} replicas ({logs})")


def require_registry(registry):
    """A registry that answers, where the swarm has nodes other than this one."""
    nodes = len(docker.run("docker", "node", "ls", "--quiet").stdout.split())
    if not registry and nodes > 1:
        raise Stop(
            f"this swarm has {nodes} nodes and only this one has the images: set REGISTRY=host:port of a "
            "registry every node can pull from"
        )
    if registry and probes.request(registry, "GET", "/v2/")[0] == 0:
        raise Stop(f"the registry at {registry} does not answer: start it, or set REGISTRY to one that does")


def built(swarm, registry):
    """The images built, tagged by content (a redeploy of changed code is a new tag, so the service
    really updates) and pushed to the registry: ({service: tag}, docker stack deploy's
    --resolve-image)."""
    stack = swarm.stack
    say("building the images")
    builder = Compose(
        {**swarm.compose.environ, "COMPOSE_PROJECT_NAME": stack}, redis_tls="on", profiles=swarm.profiles
    )
    timed("images built", quiet_or_explain, builder, "building the images", *BUILD)
    # {what the stack file looks images up by (stackfile.image_of): the service Compose built it for}
    built_for = {"redis": "redis", "web": "web", "lb": "lb"}
    if builder.mode == "sentinel":
        built_for["sentinel"] = builder.declared().sentinels[0]
    if swarm.profiles:
        built_for.update({name: "autoscaler" for name in autoscaler.SERVICES})
    tags = {}
    for key, name in built_for.items():
        image = docker.run("docker", "image", "inspect", "--format", "{{.Id}}", f"{stack}-{name}").stdout
        content = image.strip().removeprefix("sha256:")[:12]
        tags[key] = f"{registry + '/' if registry else ''}{stack}-{key}:{content}"
        docker.run("docker", "tag", f"{stack}-{name}", tags[key])
        if registry:
            say(f"pushing {tags[key]}")
            docker.quietly(f"pushing {tags[key]}", "docker", "push", tags[key])
    return tags, "always" if registry else "never"


def ship(swarm, deployment, declared, roll):
    """The stack deployed: the Redis group's changed members (ROLL) one at a time after the rest,
    then everything, waited for until every replica serves and the group is whole: the load
    balancer's address."""
    compose, stack, replicas = swarm.compose, swarm.stack, deployment.replicas
    reaching = Reach(stack, deployment.images["redis"], compose.environ["REDIS_TLS"])
    try:
        if roll:
            next_ = "the Redis group's changes next, one at a time"
            say(f"deploying stack {stack}: {replicas} web replicas; {next_}")
            deployment.omitted = list(roll)
            deployment.deploy()
            timed("the rest deployed", swarm.converged, deployment, list(deployment.stack_file()["services"]))
            group(compose, declared, reaching.container()).roll(deployment.replace, roll)
        say(f"deploying stack {stack}: {replicas} web replicas")
        deployment.omitted = []
        deployment.deploy("--prune")
        timed("stack converged", swarm.converged, deployment)
        address = swarm.lb_address()
        probes.wait_ready(address, READY_WAIT)
        probes.wait_served_by_all(address, swarm.running_replicas())
        group(compose, declared, reaching.container()).wait(GROUP_WAIT)
        return address
    finally:
        reaching.remove()


def group(compose, declared, container):
    """The group on Swarm, reached from CONTAINER."""
    return redis.group_of(compose, declared, reach(container))


def swarm_steps(swarm, deployment, declared):
    """plan.swarm_plan for the deployed stack and the stack file it would get."""
    services = deployment.stack_file()["services"]
    want = {
        name: plan.Service(s["deploy"]["labels"][stackfile.SPEC_LABEL], s["image"])
        for name, s in services.items()
    }
    listed = docker.run("docker", "stack", "services", "--format", "{{.Name}}", swarm.stack, check=False)
    others = [name.removeprefix(f"{swarm.stack}_") for name in listed.stdout.split()]
    names = list(dict.fromkeys([declared.single, *services, *others]))
    have, tls = running.deployed(swarm.stack, names)
    compose = swarm.compose
    return plan.swarm_plan(declared, compose.mode, compose.environ["REDIS_TLS"], want, have, tls)


def ship_plan(swarm, deployment, declared, deployed, planning):
    """What this deploy replaces, and why, said (plan.py's swarm_plan); the Redis group's changed
    members, to be rolled one at a time after the rest, in the order the roll takes them."""
    steps = swarm_steps(swarm, deployment, declared)
    changed = [step.reason for step in steps]
    if planning:
        say(
            f"the plan for stack {swarm.stack}, {deployment.replicas} web replicas "
            "(PLAN=1: nothing is changed):"
        )
        if not deployed:
            say("  deploying the stack anew")
        elif not changed:
            say("  nothing changed: no service is replaced")
        for reason in changed:
            say(f"  {reason}")
        return []
    if not changed:
        if deployed:
            say("nothing changed: no service is replaced")
        return []
    say(f"shipping {len(changed)} changes:")
    for reason in changed:
        say(f"  {reason}")
    roll = {step.service for step in steps if step.action == "roll"}
    return [name for name in declared.sentinels + declared.instances if name in roll]


class Reach:
    """How make deploy reaches the Redis group: a container of the Redis image on the stack's back
    network, with the admin's password and TLS certificate, made when first needed and removed at
    the end."""

    def __init__(self, stack, image, tls):
        self.stack, self.image, self.tls = stack, image, tls
        self.made = None

    def container(self):
        if self.made:
            return self.made
        password = Path("secrets/redis_admin_password").read_text().strip()
        done = docker.run(
            *(
                "docker",
                "run",
                "--detach",
                "--rm",
                "--network",
                f"{self.stack}_back",
                "--env",
                f"REDIS_TLS={self.tls}",
            ),
            *("--env", f"REDISCLI_AUTH={password}", "--entrypoint", "sleep", self.image, "infinity"),
            check=False,
        )
        if done.returncode != 0:
            raise Stop("could not start a container on the stack's back network to reach Redis")
        self.made = done.stdout.strip()
        with tempfile.TemporaryDirectory() as work:
            secrets = Path(work) / "secrets"
            secrets.mkdir()
            shutil.copy("secrets/redis_tls_ca.crt", secrets / "redis_tls_ca")
            shutil.copy("secrets/redis_tls_admin.pem", secrets / "redis_tls")
            if docker.run("docker", "cp", str(secrets), f"{self.made}:/run/", check=False).returncode != 0:
                raise Stop("could not give the container that reaches Redis its certificate")
        return self.made

    def remove(self):
        if self.made:
            docker.run("docker", "rm", "--force", self.made, check=False)


def place(declared, mode):
    """Every instance and sentinel of the Redis group (and its volume) lives on the node labelled
    for it, counter.<service>=true. A label no node has goes to a node chosen here: an instance to
    a node that holds no other instance (this one first, then by name), a sentinel to the node of
    the instance of its rank (sentinel-2 with redis-2), else to one with no sentinel; with fewer
    nodes than instances some share one (said, since losing it loses both)."""
    this = docker.run("docker", "info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    listed = docker.run("docker", "node", "ls", "--format", "{{.Hostname}} {{.ID}}").stdout.splitlines()
    nodes = list(dict.fromkeys([this, *[line.split()[1] for line in sorted(listed)]]))
    found = json.loads(docker.run("docker", "node", "inspect", *nodes).stdout)
    labels = {node["ID"]: dict(node["Spec"].get("Labels") or {}) for node in found}
    names = {node["ID"]: node["Description"]["Hostname"] for node in found}

    def labelled(label):
        return next((node for node in nodes if labels[node].get(label) == "true"), None)

    def first_without(services):
        taken = {f"counter.{name}" for name in services}
        return next(
            (node for node in nodes if not any(labels[node].get(t) == "true" for t in taken)), nodes[0]
        )

    def place_one(name, node):
        label = f"counter.{name}"
        home = labelled(label)
        if home is None:
            home = node
            docker.run("docker", "node", "update", "--label-add", f"{label}=true", home)
            labels[home][label] = "true"
            say(f"Redis's {name} runs on node {names[home]} (label {label}=true)")
        return home

    instances, sentinels = declared.of(mode)
    homes = [place_one(name, first_without(instances)) for name in instances]
    for k, name in enumerate(sentinels):
        place_one(name, homes[k] if k < len(homes) else first_without(sentinels))
    if len(set(homes)) < len(homes):
        say("some Redis instances share a node: losing it loses them together")


def scale(environ):
    swarm = Swarm(environ)
    replicas = settings.web_replicas("make deploy-scale", environ)
    swarm.require_swarm()
    swarm.require_stack()
    if swarm.service("autoscaler"):
        raise Stop(
            "the autoscaler sets web's size: change its bounds with 'make deploy AUTOSCALE=MIN-MAX', "
            "or stop it with 'make deploy AUTOSCALE=off SCALE=N'"
        )
    name = f"{swarm.stack}_web"
    say(f"scaling {name} to {replicas} replicas")
    docker.quietly(f"scaling {name}", "docker", "service", "scale", "--detach", f"{name}={replicas}")
    Deployment(swarm.stack, replicas, {}, "never", None, swarm.timeout, []).converged("web")
    probes.wait_served_by_all(swarm.lb_address(), swarm.running_replicas())
    say(f"web now has {replicas} running replicas, each one serving")


def switch(environ):
    """`make deploy-switch`: the planned switch of the primary (switch.py's) on the Swarm stack,
    under Sentinel as deployed, reached as make deploy reaches it."""
    swarm = Swarm(environ)
    swarm.require_swarm()
    swarm.require_stack()
    compose = Compose({**swarm.compose.environ, "REDIS_MODE": "sentinel"}, redis_tls="on")
    declared = compose.declared()
    if swarm.service(declared.sentinels[0]) is None:
        raise Stop(f"stack {swarm.stack} has one Redis (REDIS_MODE=single): no other instance to switch to")
    have, tls = running.deployed(swarm.stack, [declared.single])
    reaching = Reach(swarm.stack, have[declared.single].image, tls)
    try:
        planned(group(compose, declared, reaching.container()))
    finally:
        reaching.remove()


def remove(environ):
    swarm = Swarm(environ)
    swarm.require_swarm()
    swarm.require_stack()
    stack = swarm.stack
    docker.quietly("docker stack rm", "docker", "stack", "rm", stack)
    # Services go first; their containers, networks and the volume a little later.
    label = f"label=com.docker.stack.namespace={stack}"
    deadline = time.monotonic() + REMOVE_WAIT
    while (
        docker.run("docker", "ps", "--all", "--quiet", "--filter", label).stdout.strip()
        or docker.run("docker", "network", "ls", "--quiet", "--filter", label).stdout.strip()
    ):
        if time.monotonic() > deadline:
            raise Stop(f"the stack's containers or networks are still there after {REMOVE_WAIT} s")
        time.sleep(1)
    named = Compose({**swarm.compose.environ, "COMPOSE_PROJECT_NAME": stack}, redis_tls="on").declared()
    (volume,) = topology.volumes(named.config, [named.single])
    if environ.get("REMOVE_DATA", "no") == "yes":
        docker.run("docker", "volume", "rm", volume)
        say(f"stack {stack} removed, and its Redis volume (the count)")
    else:
        say(f"stack {stack} removed; the count stays in volume {volume} (REMOVE_DATA=yes removes it)")
