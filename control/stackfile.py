"""The Swarm stack file, made from the Compose file: `docker compose config --format json` in,
a stack file for `docker stack deploy` out. Every way the services differ on Swarm from Compose
is here; how `make deploy` drives Swarm (building and pushing, node labels, waiting, the Redis
group's order) is deploy.py.

- Images: Swarm cannot build, so each service runs the image `make deploy` built and tagged by
  its content (a redeploy of changed code is a new tag, so the service really updates).
- Replicas: every service is found by DNS (`endpoint_mode: dnsrr`), as under Compose: nginx
  resolves `web` to every healthy replica itself, and nothing relies on Swarm's virtual IPs.
- Updates: web replaces one task at a time, the new one healthy before the old one stops, and
  rolls back on its own if a new task fails; Redis and the load balancer stop first (one Redis
  owns its data; the load balancer's port is bound on its node).
- The load balancer's port is published on its node (`mode: host`), not through the routing mesh.
- Placement by node labels: each Redis instance and sentinel on the node labelled for it,
  `counter.<service>=true` (its volume lives there; `make deploy` labels a node for each service
  that no node is labelled for); web on every node not labelled `counter.web=false`. The load
  balancer runs on every node (`mode: global`) not labelled `counter.lb=false`, so clients may
  use any node's address and losing one loses one.
- `/tmp` becomes a tmpfs volume (Swarm drops `tmpfs:`).
- A folder of the project mounted into a service (the load balancer's lb/site/, Prometheus's
  monitoring/) becomes one Swarm config per file, named by its content: the other nodes have no
  copy of the project. Docker's socket (the autoscaler's socket proxy) stays mounted: each node
  has its own. The whole project (the autoscaler's, which scales with Compose there) is not: on
  Swarm it scales through Docker's API and reads no file of the project.
- Under AUTOSCALE (make deploy adds the monitoring and autoscale profiles' services), the
  autoscaler, its socket proxy and the monitoring run on a manager: Swarm's API answers there.
  Prometheus's port is not published: Swarm would publish it on every address, and it has no login.
- The back network may be joined by a one-off container (`attachable`): `make deploy` checks the
  Redis group through it.
- Dropped, with their replacements: `build` (images above), `depends_on` (each service waits
  and retries by itself), `restart` (Swarm's restart policy), `security_opt` (each image starts
  under `setpriv --no-new-privs`), `profiles` (the stack is what Compose's configuration holds),
  the port's host IP, the fixed addresses and the hosts entries that name them (Swarm gives a
  task no fixed address: the names resolve through Swarm's DNS), and Compose's names for networks,
  volumes and secrets (the stack names them; secrets by content, since Swarm cannot change one
  in place).
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

from control.topology import Topology, TopologyError

VERSION = "3.9"  # the newest format `docker stack deploy` reads
# Where each service may run, but the Redis group's: each of those on the node labelled for it.
MANAGER = "node.role == manager"
PLACEMENT = {
    "lb": "node.labels.counter.lb != false",
    "web": "node.labels.counter.web != false",
    **{
        name: MANAGER
        for name in ("autoscaler", "docker-proxy", "prometheus", "nginx-exporter", "redis-exporter")
    },
}
UNPUBLISHED = {"prometheus"}
NODE_FILES = {"/var/run/docker.sock"}  # mounted from the node the task runs on
GLOBAL = {"lb"}  # one task on every node it may run on

KEPT = {
    "cap_drop", "command", "entrypoint", "environment", "healthcheck", "init", "logging",
    "networks", "ports", "read_only", "secrets", "stop_grace_period", "user", "volumes",
}  # fmt: skip
REPLACED = {
    "build", "depends_on", "deploy", "extra_hosts", "image", "profiles", "restart", "security_opt", "tmpfs",
    "working_dir",
}  # fmt: skip

ONE_AT_A_TIME_NEW_FIRST = {
    "parallelism": 1,
    "order": "start-first",
    "failure_action": "rollback",
    "monitor": "10s",
}
STOP_FIRST = {"parallelism": 1, "order": "stop-first", "failure_action": "rollback"}


class StackFileError(ValueError):
    """The Compose file uses something this step does not carry over to Swarm."""


def service(name, spec, image, replicas, group=()):
    unknown = set(spec) - KEPT - REPLACED
    if unknown:
        raise StackFileError(
            f"service {name} uses {', '.join(sorted(unknown))}, which control/stackfile.py does not "
            "carry over to Swarm: handle it there"
        )
    out = {key: value for key, value in spec.items() if key in KEPT and value is not None}
    out["image"] = image
    if isinstance(out.get("networks"), dict):  # without Compose's fixed addresses
        out["networks"] = sorted(out["networks"])
    mounts = out.get("volumes", [])
    out["volumes"] = [m for m in mounts if m.get("type") != "bind" or m["source"] in NODE_FILES] + [
        {"type": "tmpfs", "target": path} for path in spec.get("tmpfs", [])
    ]
    files = [pair for m in mounts if copied(m) for pair in mounted_files(m)]
    if files:
        out["configs"] = [{"source": config_key(path, target), "target": target} for path, target in files]
    if not out["volumes"]:
        del out["volumes"]
    if "secrets" in out:  # Swarm mounts secrets by file name under /run/secrets
        out["secrets"] = [{**s, "target": Path(s.get("target", s["source"])).name} for s in out["secrets"]]
    if name in UNPUBLISHED:
        out.pop("ports", None)
    if "ports" in out:
        out["ports"] = [
            {
                "mode": "host",
                "target": p["target"],
                "published": int(p["published"]),
                "protocol": p["protocol"],
            }
            for p in out["ports"]
        ]
    out["deploy"] = deploy(name, spec.get("deploy", {}), replicas, placement(name, group))
    return out


def placement(name, group):
    """Where the service may run: a Redis instance or sentinel (of `group`) on its labelled node."""
    if name in group:
        return f"node.labels.counter.{name} == true"
    if name in PLACEMENT:
        return PLACEMENT[name]
    raise StackFileError(f"service {name} has no placement on Swarm: give it one in control/stackfile.py")


def deploy(name, compose_deploy, replicas, where):
    limits = compose_deploy.get("resources", {}).get("limits", {})
    out = {
        "endpoint_mode": "dnsrr",
        **({"mode": "global"} if name in GLOBAL else {"replicas": replicas}),
        "restart_policy": {"condition": "any", "delay": "1s"},
        "resources": {"limits": {key: str(value) for key, value in limits.items()}},
    }
    if name == "web":
        out["update_config"] = ONE_AT_A_TIME_NEW_FIRST
        out["rollback_config"] = {key: ONE_AT_A_TIME_NEW_FIRST[key] for key in ("parallelism", "order")}
    else:
        out["update_config"] = STOP_FIRST
    out["placement"] = {"constraints": [where]}
    return out


def copied(mount):
    """Whether a mount brings files of the project, that Swarm configs carry to the nodes."""
    return (
        mount.get("type") == "bind"
        and mount["source"] not in NODE_FILES
        and Path(mount["source"]).resolve() != Path.cwd().resolve()
    )


def mounted_files(mount):
    """(file on this host, path in the container) of every file a bind mount brings in."""
    source = Path(mount["source"])
    if source.is_file():
        return [(source, mount["target"])]
    if not source.is_dir():
        raise StackFileError(f"{source} is mounted into a service but is not here")
    return [
        (path, f"{mount['target']}/{path.relative_to(source)}")
        for path in sorted(source.rglob("*"))
        if path.is_file()
    ]


def config_key(path, target):
    """A Swarm config's name in the stack file: by the file's content and its place in the container."""
    return "file_" + hashlib.sha256(f"{target}\0".encode() + path.read_bytes()).hexdigest()[:16]


def content_name(stack, key, secret):
    digest = hashlib.sha256(Path(secret["file"]).read_bytes()).hexdigest()[:12]
    return f"{stack}_{key}_{digest}"


def image_of(name, spec, images):
    """The service's image: its own, or that of its build's target (the sentinels run the
    sentinel image), or that of the service it shares a build with (the other Redis instances
    run Redis's image); one that is not built, the image it names."""
    if "build" not in spec:
        return images.get(name) or spec.get("image")
    build = spec["build"]
    context = Path(build.get("context", name)).name
    return images.get(name) or images.get(build.get("target", "")) or images.get(context)


def stack_file(config, stack, images, replicas, omit=()):
    """The stack file for `config` (Compose's JSON): `images` by service, `replicas` of web; the
    services in `omit` left out (`docker stack deploy` without --prune leaves them as they run)."""
    missing = {name for name, spec in config["services"].items() if not image_of(name, spec, images)}
    if missing:
        raise StackFileError(f"no image for {', '.join(sorted(missing))}")
    topology = Topology(config)
    group = {*topology.instances, *topology.sentinels}
    out = {
        "version": VERSION,
        "services": {
            name: service(name, spec, image_of(name, spec, images), replicas if name == "web" else 1, group)
            for name, spec in config["services"].items()
        },
        "networks": {
            name: {
                "driver": "overlay",
                **({"internal": True, "attachable": True} if network.get("internal") else {}),
            }
            for name, network in config.get("networks", {}).items()
        },
        "volumes": {name: {} for name in config.get("volumes", {})},
        "secrets": {
            key: {"name": content_name(stack, key, secret), "file": secret["file"]}
            for key, secret in config.get("secrets", {}).items()
        },
        "configs": {
            config_key(path, target): {"name": f"{stack}_{config_key(path, target)}", "file": str(path)}
            for spec in config["services"].values()
            for mount in spec.get("volumes", [])
            if copied(mount)
            for path, target in mounted_files(mount)
        },
    }
    for spec in out["services"].values():
        spec["deploy"]["labels"] = {SPEC_LABEL: spec_digest(spec, out)}
    out["services"] = {name: spec for name, spec in out["services"].items() if name not in omit}
    return out


# A service's label with a digest of its definition, its secrets' and configs' names (their
# content) included and its replicas left out: `make deploy` tells by it which services change.
SPEC_LABEL = "counter.spec"


def spec_digest(spec, stack):
    definition = {
        **spec,
        "deploy": {k: v for k, v in spec["deploy"].items() if k not in ("replicas", "labels")},
        "secret_names": [stack["secrets"][s["source"]]["name"] for s in spec.get("secrets", [])],
        "config_names": [stack["configs"][c["source"]]["name"] for c in spec.get("configs", [])],
    }
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:12]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m control stackfile", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--replicas", type=int, required=True, help="web replicas")
    parser.add_argument("--image", action="append", default=[], metavar="SERVICE=IMAGE")
    parser.add_argument("--omit", action="append", default=[], metavar="SERVICE", help="left as it runs")
    args = parser.parse_args(argv)
    try:
        images = dict(pair.split("=", 1) for pair in args.image)
        config = json.load(sys.stdin)
        print(json.dumps(stack_file(config, args.stack, images, args.replicas, args.omit), indent=2))
    except (StackFileError, TopologyError, OSError, ValueError, KeyError) as error:
        print(f"stackfile: {error}", file=sys.stderr)
        return 1
    return 0
