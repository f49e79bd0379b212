"""A failed Compose command explained in one last line that names the cause and the fix: a base
image that cannot be pulled, an image that did not build (with its error's first lines), the back
network's addresses taken, a port that is taken, a service never healthy (with its last log
lines); anything else refers to Compose's own messages, shown above it."""

import json
import re
import sys
from pathlib import Path

from control import docker
from control.errors import Stop

# The setting that chooses a published port, by the service that publishes it.
PORT_SETTINGS = {
    "lb": "LB_PORT=... (make up LB_PORT=8080)",
    "locust-master": "LOCUST_PORT=... (make load-ui LOCUST_PORT=8090)",
    "prometheus": "PROMETHEUS_PORT=... (make monitor PROMETHEUS_PORT=9091)",
}
COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def base_images(compose, args):
    """The images a Compose command needs from a registry: those the stack's images are built
    from (Compose's build arguments), and those its services run as they are (monitoring's, if
    the command names that profile)."""
    profiles = ["--profile", "monitoring"] if "monitoring" in args else []
    services = json.loads(compose.run(*profiles, "config", "--format", "json").stdout)["services"].values()
    built = {value for s in services for value in s.get("build", {}).get("args", {}).values()}
    return sorted(built | {s["image"] for s in services if "build" not in s})


def failed_build(lines, dockerfiles=None):
    """(service, its error's first lines) of an image that did not build, or (None, None).

    BuildKit repeats the failed step as " > [SERVICE N/M] STEP:", then its error's lines (each
    may start with the seconds it ran), then "------". The classic builder ends a failed step with
    "The command '...' returned a non-zero code: N"; its error is the last line printed in red
    (ESC[91m) with words in it before that. Which service ran it, it does not say: Compose says
    " Service SERVICE  Building" for each service it starts (several at once, on another stream
    than the builder's, so in no telling order) and "Built" for each that did. The service is one
    that did not build, whose Dockerfile (`dockerfiles`: {service: its text}) has the command."""
    for number, line in enumerate(lines):
        step = re.match(r" > \[([a-z0-9_-]+) [0-9]+/[0-9]+\]", line)
        if step:
            error = []
            for after in lines[number + 1 :]:
                if after.startswith("------"):
                    break
                error.append(re.sub(r"^[0-9]*\.[0-9]* ", "", after))
            return step.group(1), "; ".join(error[:3])
    for number, line in enumerate(lines):
        failed = re.search(r"The command '(?:/bin/sh -c )?(.*)' returned a non-zero code", line)
        if failed:
            said = [
                m.groups()
                for m in (re.match(r" *Service ([a-z0-9_-]+) +(Building|Built)", x) for x in lines)
                if m
            ]
            started = [service for service, what in said if what == "Building"]
            built = {service for service, what in said if what == "Built"}
            unbuilt = [service for service in started if service not in built] or started
            having = [s for s in unbuilt if failed.group(1) in (dockerfiles or {}).get(s, "")]
            red = [COLOUR.sub("", x) for x in lines[:number] if "\x1b[91m" in x and COLOUR.sub("", x).strip()]
            if unbuilt:
                return (having or unbuilt)[-1], (red[-1] if red else "")
    return None, None


def dockerfiles(compose):
    """{service: its Dockerfile's text} for each service of any profile that is built."""
    services = json.loads(compose.run("--profile", "*", "config", "--format", "json").stdout)["services"]
    found = {}
    for name, service in services.items():
        build = service.get("build")
        if build:
            path = Path(build.get("context", ".")) / build.get("dockerfile", "Dockerfile")
            found[name] = path.read_text() if path.is_file() else ""
    return found


def published_by(compose, port):
    config = json.loads(
        compose.run("--profile", "monitoring", "--profile", "loadtest", "config", "--format", "json").stdout
    )
    for name, service in config["services"].items():
        if any(str(p.get("published")) == port for p in service.get("ports", [])):
            return name
    return None


def explain(compose, what, lines, args):
    """Stop with one line for a Compose command (ARGS) that failed, having printed LINES."""
    for image in base_images(compose, args):
        if docker.run("docker", "image", "inspect", image, check=False).returncode != 0:
            raise Stop(
                f"the base image {image} cannot be pulled here: run 'make offline-images' to build "
                "stand-ins from Debian's packages (or reach a registry)"
            )
    service, error = failed_build(lines, dockerfiles(compose))
    if service:
        raise Stop(
            f"the {service} image did not build: {error or 'see the lines above'} "
            "(fix its Dockerfile or what it installs)"
        )
    text = "\n".join(lines)
    if "Pool overlaps with other one on this address space" in text:
        back = compose.environ.get("BACK_NETWORK") or "10.210.0"
        raise Stop(
            f"the back network's addresses ({back}.0/24) are another Docker network's: "
            "choose others with BACK_NETWORK=10.210.N"
        )
    port = re.search(r"(?:listen tcp[46]? |Bind for )[^ ]*:([0-9]+)", text)
    if port:
        setting = PORT_SETTINGS.get(published_by(compose, port.group(1)), PORT_SETTINGS["lb"])
        raise Stop(f"port {port.group(1)} is taken on this host: free it, or choose another with {setting}")
    unhealthy = re.search(r"container (\S+) is unhealthy", text)
    if unhealthy:
        label = '{{index .Config.Labels "com.docker.compose.service"}}'
        found = docker.run("docker", "inspect", "--format", label, unhealthy.group(1), check=False)
        service = found.stdout.strip() or unhealthy.group(1)
        logs = compose.run("logs", "--no-color", "--tail", "10", service, check=False)
        print(logs.stdout + logs.stderr, end="", file=sys.stderr)
        raise Stop(f"{what}: {service} did not become healthy (its last log lines are above)")
    raise Stop(f"{what} failed (Compose's messages are above)")


def or_explain(compose, what, *args):
    """Compose ARGS, its output shown; if it fails, a Stop naming the cause (explain)."""
    code, lines = compose.shown(*args)
    if code != 0:
        explain(compose, what, lines, args)


def quiet_or_explain(compose, what, *args):
    """Compose ARGS, shown only if it fails: then its last lines, and a Stop naming the cause."""
    done = compose.run(*args, check=False)
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).splitlines()
        print("\n".join(lines[-15:]), file=sys.stderr, flush=True)
        explain(compose, what, lines, args)
