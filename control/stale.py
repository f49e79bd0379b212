"""Which services differ from what docker-compose.yml and the images just built say, and why.

Compose recreates a container when its configuration's hash or its image changed; `make up`
replaces them itself (scripts/lib/rollout.sh), so it asks here first, as Compose would decide:

    python3 -m control stale CONFIG HASHES IMAGES CONTAINERS
    python3 -m control stale --failing CONTAINERS    (the ids of those that keep failing)

CONFIG: `docker compose config --format json`; HASHES: `docker compose config --hash '*'`
(SERVICE HASH lines); IMAGES: SERVICE IMAGE-ID lines, the images the services run now;
CONTAINERS: `docker inspect` of the project's containers, running or not. Prints one line per
stale service, SERVICE, a tab, and the reason. A container that keeps failing (restarting, or
exited with an error: a broken release shipped by hand, say) is stale too, whatever it runs.
"""

import json


def env_of(container):
    return dict(item.split("=", 1) for item in container["Config"]["Env"] or [])


def changed_settings(spec, container):
    """The environment variables Compose sets that the container has otherwise."""
    have = env_of(container)
    want = {key: "" if value is None else str(value) for key, value in spec.get("environment", {}).items()}
    return sorted(key for key in want if have.get(key) != want[key])


def keeps_failing(container):
    """Restarting, exited with an error, or restarted and not healthy since."""
    state = container["State"]
    healthy = state.get("Health", {}).get("Status") == "healthy"
    return (
        state["Restarting"]
        or (not state["Running"] and state["ExitCode"] != 0)
        or (container.get("RestartCount", 0) > 0 and not healthy)
    )


def reasons(service, spec, config_hash, image, containers):
    """Why the service's containers must be replaced, or None."""
    mine = [c for c in containers if c["Config"]["Labels"].get("com.docker.compose.service") == service]
    found = []
    running = [c["Config"]["Labels"].get("com.docker.compose.image", c["Image"]) for c in mine]
    old = next((have for have in running if image and have != image), None)
    if old:
        found.append(f"its image changed ({short(old)} -> {short(image)})")
    stale = [c for c in mine if c["Config"]["Labels"].get("com.docker.compose.config-hash") != config_hash]
    if stale:
        names = changed_settings(spec, stale[0])
        found.append(f"its settings changed ({', '.join(names)})" if names else "its definition changed")
    failing = [c for c in mine if keeps_failing(c)]
    if failing:
        found.append(f"{len(failing)} of its {len(mine)} containers keep failing")
    return "; ".join(found) or None


def short(image_id):
    return image_id.removeprefix("sha256:")[:12]


def pairs(path):
    with open(path) as lines:
        return dict(line.split(None, 1) for line in lines.read().split("\n") if line.strip())


def main(argv):
    if argv[0] == "--failing":
        with open(argv[1]) as f:
            print("\n".join(c["Id"] for c in json.load(f) if keeps_failing(c)))
        return 0
    config_file, hashes_file, images_file, containers_file = argv[:4]
    with open(config_file) as f:
        config = json.load(f)
    with open(containers_file) as f:
        containers = json.load(f)
    hashes = {k: v.strip() for k, v in pairs(hashes_file).items()}
    images = {k: v.strip() for k, v in pairs(images_file).items()}
    for service, spec in config["services"].items():
        why = reasons(service, spec, hashes.get(service), images.get(service), containers)
        if why:
            print(f"{service}\t{why}")
    return 0
