"""The stack on Docker Swarm, as `make deploy` rolls its Redis group (deploy.py does the rest): a
member replaced is deployed with its new definition, the members not yet rolled left out of the
stack file (so they run on as they are), and waited for until its task runs that definition; the
group is reached from a container on the stack's back network."""

import json
import tempfile
import time

from control import docker, stackfile
from control.errors import Stop


class Deployment:
    def __init__(self, stack, replicas, images, resolve, config, timeout, omitted):
        self.stack = stack
        self.replicas = replicas
        self.images = images  # service -> tag, as stackfile takes them
        self.resolve = resolve  # docker stack deploy's --resolve-image
        self.config = config  # `docker compose config --format json`
        self.timeout = timeout  # DEPLOY_TIMEOUT, s
        self.omitted = list(omitted)

    def stack_file(self):
        """The stack file, but for the omitted services."""
        return stackfile.stack_file(self.config, self.stack, self.images, self.replicas, self.omitted)

    def deploy(self, *prune):
        """The stack file, but for the omitted services, deployed (with "--prune": and nothing else)."""
        with tempfile.NamedTemporaryFile("w", suffix=".json") as written:
            json.dump(self.stack_file(), written)
            written.flush()
            docker.quietly(
                "docker stack deploy",
                *("docker", "stack", "deploy", *prune, "--resolve-image", self.resolve),
                *("--with-registry-auth", "--compose-file", written.name, self.stack),
            )

    def replace(self, service):
        """A member of the Redis group deployed with its new definition, and running it."""
        self.omitted.remove(service)
        self.deploy()
        self.converged(service)

    def converged(self, service):
        """Until the service runs all its tasks of its current definition, or a Stop saying why not."""
        name = f"{self.stack}_{service}"
        declared = self.config["services"].get(service, {}) if self.config else {}
        deployed = stackfile.image_of(service, declared, self.images)
        if deployed and ":" not in deployed.rsplit("/", 1)[-1]:
            deployed += ":latest"  # as Swarm names an image given without a tag
        deadline = time.monotonic() + self.timeout
        while True:
            (spec,) = json.loads(docker.run("docker", "service", "inspect", name).stdout)
            image = spec["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]
            update = spec.get("UpdateStatus") or {}
            if deployed and image != deployed:
                raise Stop(
                    f"the update of {service} failed, so Swarm rolls it back and {image} serves on "
                    f"({update.get('Message', '')})"
                )
            want = wanted_tasks(name)
            running = current_tasks(name, spec)
            if running == want and update.get("State") not in ("updating", "rollback_started"):
                return
            if time.monotonic() > deadline:
                tasks = docker.run(
                    *("docker", "service", "ps", name, "--no-trunc"),
                    *("--format", "{{.Name}} on {{.Node}}: {{.CurrentState}} {{.Error}}"),
                    check=False,
                )
                print("\n".join(tasks.stdout.splitlines()[:8]), flush=True)
                raise Stop(
                    f"{service} has {running} of {want} tasks running after {self.timeout} s "
                    "(its tasks are above)"
                )
            time.sleep(1)


def wanted_tasks(name):
    """How many tasks the service wants: its replicas, or one per eligible node (global)."""
    listed = docker.run("docker", "service", "ls", "--filter", f"name={name}", "--format", "{{json .}}")
    for line in listed.stdout.splitlines():
        service = json.loads(line)
        if service["Name"] == name:
            return int(service["Replicas"].split("/")[1].split()[0])
    return None


# What a task's container runs, with which settings, secrets, configs and mounts: Swarm fills in
# defaults on the service's copy only, so the whole of it would never match.
RUNS = ("Image", "Env", "Args", "Secrets", "Configs", "Mounts")


def current_tasks(name, spec):
    """How many of a service's tasks run, with its current definition."""
    want = {key: spec["Spec"]["TaskTemplate"]["ContainerSpec"].get(key) for key in RUNS}
    tasks = docker.run(
        "docker", "service", "ps", name, "--filter", "desired-state=running", "--quiet"
    ).stdout.split()
    if not tasks:
        return 0
    found = json.loads(docker.run("docker", "inspect", *tasks, check=False).stdout or "[]")
    return sum(
        1
        for task in found
        if task["Status"]["State"] == "running"
        and {key: task["Spec"]["ContainerSpec"].get(key) for key in RUNS} == want
    )


def reach(container):
    """Swarm's reach of the Redis group: `container`, on the stack's back network, has the admin's
    password and certificate (deploy.py starts it)."""

    def run(argv, stdin=None):
        return docker.run("docker", "exec", "-i", container, *argv, check=False, stdin=stdin or "")

    return run
