"""What runs under Compose, as the planner (plan.py) reads it: every container through `docker
inspect` (JSON), what the configuration declares through `docker compose config --format json`,
and each service's configuration hash as Compose computes it (`config --hash`, the one place
Compose gives it)."""

import json

from control import docker, stale
from control.plan import Running, Service


def config_hashes(compose):
    """{service: Compose's hash of its configuration}"""
    lines = compose.run("config", "--hash", "*").stdout.splitlines()
    return dict(line.split(None, 1) for line in lines if line.strip())


def images(project, services):
    """{service: the id of the image built for it now}, for the services built here."""
    found = {}
    for service in services:
        done = docker.run("docker", "image", "inspect", f"{project}-{service}", check=False)
        if done.returncode == 0:
            found[service] = json.loads(done.stdout)[0]["Id"]
    return found


def containers(compose):
    """`docker inspect` of the project's containers, running or not."""
    ids = [c["ID"] for c in compose.containers(running=False)]
    return json.loads(docker.run("docker", "inspect", *ids).stdout) if ids else []


def stale_services(compose, config, every):
    """{service: why its containers must be replaced} (control/stale.py decides, as Compose would)."""
    hashes = config_hashes(compose)
    built = images(config["name"], config["services"])
    found = {}
    for service, spec in config["services"].items():
        why = stale.reasons(service, spec, hashes.get(service, "").strip(), built.get(service), every)
        if why:
            found[service] = why
    return found


def lb_edited(compose):
    """Whether nginx runs another nginx.conf than lb/site/ holds (the entrypoint notes what it loaded)."""
    compare = "sha256sum /etc/counter-lb/nginx.conf | cmp -s - /tmp/nginx.conf.sha256"
    return compose.run("exec", "-T", "lb", "sh", "-c", compare, check=False).returncode != 0


def tls_of(every, service):
    """REDIS_TLS as the service's running container has it (off for one started before the
    setting), or None where none runs."""
    for container in every:
        labels = container["Config"]["Labels"]
        if labels.get("com.docker.compose.service") == service and container["State"]["Running"]:
            return stale.env_of(container).get("REDIS_TLS") or "off"
    return None


def read(compose, topology):
    """What runs now (plan.Running)."""
    every = containers(compose)
    running = {
        c["Config"]["Labels"].get("com.docker.compose.service") for c in every if c["State"]["Running"]
    }
    if not running:
        return Running()
    config = json.loads(compose.run("config", "--format", "json").stdout)
    first = topology.single if compose.mode == "single" else topology.instances[0]
    web = [c for c in every if c["Config"]["Labels"].get("com.docker.compose.service") == "web"]
    return Running(
        services=running,
        stale=stale_services(compose, config, every),
        web=sum(c["State"]["Running"] for c in web),
        tls=tls_of(every, first) or compose.environ["REDIS_TLS"],
        lb_edited="lb" in running and lb_edited(compose),
    )


def deployed(stack, names):
    """{service: plan.Service} of the stack's deployed services among NAMES, and REDIS_TLS as the
    deployed service `names[0]` has it (None where it is not deployed)."""
    found, tls = {}, None
    for name in names:
        done = docker.run("docker", "service", "inspect", f"{stack}_{name}", check=False)
        if done.returncode != 0:
            continue  # new: nothing to replace
        spec = json.loads(done.stdout)[0]["Spec"]
        container = spec["TaskTemplate"]["ContainerSpec"]
        found[name] = Service(spec.get("Labels", {}).get("counter.spec", ""), container["Image"])
        if name == names[0]:
            env = dict(item.split("=", 1) for item in container.get("Env") or [])
            tls = env.get("REDIS_TLS") or "off"
    return found, tls
