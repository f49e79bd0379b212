"""`make swarm-lab`, `make swarm-lab-down`: the swarm lab, a registry and three Docker engines,
each in a container on this host, joined into one swarm of three managers (so it keeps its
control with any one of them lost), so that `make deploy` runs as on a real cluster. Making it
takes about a minute, and prints the two settings that point make at it; `python3 -m control
lab-env` prints them again (NODE=node-2 for another node): eval "$(python3 -m control lab-env)".

Each node runs a load balancer, and web replicas run on node-2 and node-3 (node-1 is labelled
counter.web=false). `make deploy`, run against node-1, places the Redis group: the one Redis on
node-1, and under Sentinel one instance and one sentinel on each node (deploy.py). The engines'
flags are the ones that work here: no --privileged; each engine on its own volume, overlay2."""

import re
import time

from control import docker
from control.compose import Compose
from control.errors import Stop
from control.explain import base_images
from control.say import say

NODES = ("node-1", "node-2", "node-3")
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,30}")
ENGINE_WAIT = 90  # s


class Lab:
    def __init__(self, environ):
        self.environ = environ
        self.name = environ.get("LAB_NAME") or "counter-lab"
        if not NAME.fullmatch(self.name):
            raise Stop(f"LAB_NAME must be a name of lower-case letters, digits and -, got '{self.name}'")
        self.env = {**environ, "DOCKER_HOST": ""}  # this host's engine, whatever DOCKER_HOST says

    def host(self, *args, check=True):
        return docker.run("docker", *args, check=check, env=self.env)

    def address(self, container):
        network = '{{(index .NetworkSettings.Networks "' + self.name + '").IPAddress}}'
        return self.host("inspect", "--format", network, container).stdout.strip()

    def engine(self, node):
        return ["docker", "-H", f"tcp://{self.address(f'{self.name}-{node}')}:2375"]

    def node(self, node, *args, check=True):
        return docker.run(*self.engine(node), *args, check=check, env=self.env)

    def have(self, image):
        """Whether this host has IMAGE, pulled if a registry answers."""
        if self.host("image", "inspect", image, check=False).returncode == 0:
            return True
        return self.host("pull", "--quiet", image, check=False).returncode == 0

    def build(self):
        """The engine's image, and the registry's (a stand-in from Debian's docker-registry where
        registry:2 cannot be pulled): the registry's image."""
        base = next(
            (image for image in ("debian:sid", "counter-standin/debian:sid") if self.have(image)), None
        )
        if base is None:
            raise Stop(
                "no Debian sid image to build the lab from: run 'make offline-images' first (or allow pulls)"
            )
        say(f"building the lab's engine image from {base}")
        built = ("build", "--quiet", "--build-arg", f"BASE={base}")
        docker.quietly(f"building {self.name}/node", "docker", *built, "-f", "lab/node.Dockerfile",
                       "-t", f"{self.name}/node", "lab", env=self.env)  # fmt: skip
        if self.have("registry:2"):
            return "registry:2"
        say("no registry:2 to pull: building a stand-in from Debian's docker-registry")
        docker.quietly(f"building {self.name}/registry", "docker", *built, "-f", "lab/registry.Dockerfile",
                       "-t", f"{self.name}/registry", "lab", env=self.env)  # fmt: skip
        return f"{self.name}/registry"

    def start_node(self, node, subnet):
        """An engine in a container. It keeps its disk in a volume (overlay2 works there; it would
        not on the container's own root) and its run state on a tmpfs (so a killed engine starts
        again), its containers' cgroups under /<lab>-<node>, and trusts the lab's registry."""
        self.host(
            *("run", "--detach", "--name", f"{self.name}-{node}", "--hostname", node, "--network", self.name),
            *("--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined"),
            *("--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined"),
            *("--cgroupns", "host", "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw"),
            *("--volume", f"{self.name}-{node}:/var/lib/docker", "--tmpfs", "/run"),
            *("--label", f"{self.name}=node", f"{self.name}/node"),
            *("--cgroup-parent", f"/{self.name}-{node}", "--host", "unix:///var/run/docker.sock"),
            *("--host", "tcp://0.0.0.0:2375", "--tls=false", "--insecure-registry", subnet),
        )

    def wait_engine(self, node):
        deadline = time.monotonic() + ENGINE_WAIT
        while self.node(node, "info", check=False).returncode != 0:
            if time.monotonic() > deadline:
                logs = self.host("logs", "--tail", "15", f"{self.name}-{node}", check=False)
                print(logs.stdout + logs.stderr, end="")
                raise Stop(f"the engine of {node} did not start within {ENGINE_WAIT} s")
            time.sleep(1)

    def seed_base_images(self):
        """The base images the stack is built from (Compose's build arguments), copied to node-1,
        which builds the stack's images as a real cluster's manager (or CI) would."""
        for image in base_images(Compose(self.environ), ()):
            if not self.have(image):
                raise Stop(f"no {image} here to give node-1: run 'make offline-images' (or allow pulls)")
            say(f"giving node-1 {image}")
            if not docker.piped(
                ["docker", "save", image], [*self.engine("node-1"), "load", "--quiet"], self.env
            ):
                raise Stop(f"could not give node-1 {image}")

    def settings(self, node):
        """The settings that point make at the lab: node-1's engine, or NODE's (any node is a manager)."""
        if node not in NODES:
            raise Stop(f"NODE must be one of {' '.join(NODES)}, got '{node}'")
        if self.host("inspect", f"{self.name}-registry", check=False).returncode != 0:
            raise Stop(f"no lab {self.name}: make it with 'make swarm-lab'")
        registry = self.address(f"{self.name}-registry")
        return f"export DOCKER_HOST=tcp://{self.address(f'{self.name}-{node}')}:2375 REGISTRY={registry}:5000"


def up(environ):
    lab = Lab(environ)
    docker.require_docker()
    if lab.host("ps", "--all", "--quiet", "--filter", f"label={lab.name}").stdout.strip():
        raise Stop(f"the lab {lab.name} exists: 'make swarm-lab-down' first")
    registry = lab.build()
    # Its own subnet, so that a node cut off (docker network disconnect) can come back at its address.
    lab.host("network", "create", "--subnet", f"{docker.free_network('10.211', lab.env)}.0/24", lab.name)
    subnet = lab.host(
        "network", "inspect", "--format", "{{(index .IPAM.Config 0).Subnet}}", lab.name
    ).stdout.strip()
    lab.host("run", "--detach", "--name", f"{lab.name}-registry", "--network", lab.name,
             "--label", f"{lab.name}=registry", registry)  # fmt: skip
    for node in NODES:
        lab.start_node(node, subnet)
    for node in NODES:
        lab.wait_engine(node)
    manager = lab.address(f"{lab.name}-node-1")
    say(f"making the swarm: three managers, node-1 at {manager}")
    lab.node("node-1", "swarm", "init", "--advertise-addr", manager)
    token = lab.node("node-1", "swarm", "join-token", "--quiet", "manager").stdout.strip()
    for node in NODES[1:]:
        address = lab.address(f"{lab.name}-{node}")
        lab.node(node, "swarm", "join", "--token", token, "--advertise-addr", address, f"{manager}:2377")
    lab.node("node-1", "node", "update", "--label-add", "counter.web=false", "node-1")
    lab.seed_base_images()
    say(f"lab {lab.name} is up: 3 engines, a registry. Point make at it:")
    print(lab.settings("node-1"))


def down(environ):
    lab = Lab(environ)
    containers = lab.host("ps", "--all", "--quiet", "--filter", f"label={lab.name}").stdout.split()
    if containers:
        lab.host("rm", "--force", "--volumes", *containers)
    for node in NODES:
        lab.host("volume", "rm", f"{lab.name}-{node}", check=False)
    lab.host("network", "rm", lab.name, check=False)
    say(f"lab {lab.name} removed")


def env(environ):
    print(Lab(environ).settings(environ.get("NODE") or "node-1"))
