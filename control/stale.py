"""Which services differ from what docker-compose.yml and the images just built say, and why.

Compose recreates a container when its configuration's hash or its image changed; `make up`
replaces them itself (control/up.py, in the steps control/plan.py plans), so it asks
here first, as Compose would decide (control/running.py gathers what runs). A container that
keeps failing (restarting, or exited with an error: a broken release shipped by hand, say) is
stale too, whatever it runs; `make up` removes those first (up.py).
"""


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
