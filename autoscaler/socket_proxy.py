"""The autoscaler's only way to Docker: a filter in front of Docker's socket, which gives root on
the host to whoever holds it. It lets through what `docker compose up --scale web=N` and
`docker compose ps` need for this project's web service, and nothing else:
  - reads of containers, images, networks, volumes and the engine (no logs, no files, no exec);
  - a new container only if it is one of this project's web replicas, of its web image, with no
    privilege, no added capability, no device, no host namespace, and no mount but the
    project's secrets files (a container with Docker's socket or the host's disk is refused),
    and only while the project has fewer than MOST web containers (the autoscaler's upper bound);
  - start, stop, kill, removal and network connection of this project's web containers only;
  - on Swarm, where PROJECT is the stack: reads of services and tasks, and an update of the
    stack's web service that changes its replicas, to MOST at the most, and nothing else of it.
Everything else is answered 403 with a message saying what was refused, and logged.

One request a connection: each is read whole, judged, and passed on with `Connection: close`.
Settings: PROJECT (Compose's project name), PROJECT_DIR (where the project is on the host), MOST
(the most web replicas there may be)."""

import json
import os
import re
import socket
import socketserver
import sys
import urllib.parse

DOCKER_SOCKET = "/var/run/docker.sock"
PROJECT = os.environ.get("PROJECT", "counter")
PROJECT_DIR = os.environ.get("PROJECT_DIR", "/counter").rstrip("/")
MOST = int(os.environ.get("MOST", "1"))
SERVICE = "web"
VERSION = re.compile(r"^/v[0-9.]+")
READS = re.compile(
    r"/_ping|/version|/info|/containers/json|/containers/[^/]+/json|/images/json|/images/.+/json"
    r"|/networks|/networks/[^/]+|/volumes|/volumes/[^/]+|/services|/services/[^/]+|/tasks"
)
SERVICE_UPDATE = re.compile(r"/services/([^/]+)/update")
ACTIONS = re.compile(r"/containers/([^/]+)/(start|stop|kill|wait)")
HOST_MODES = ("PidMode", "IpcMode", "UTSMode", "UsernsMode", "CgroupnsMode", "NetworkMode")


def docker(method, path, body=b""):
    """(status, body) of one call to Docker's socket."""
    with socket.socket(socket.AF_UNIX) as connection:
        connection.connect(DOCKER_SOCKET)
        head = f"{method} {path} HTTP/1.0\r\nHost: docker\r\nContent-Length: {len(body)}\r\n"
        connection.sendall(head.encode() + b"Content-Type: application/json\r\n\r\n" + body)
        answer = b"".join(iter(lambda: connection.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def is_ours(container):
    """Whether the container (an id or name) is one of this project's web replicas."""
    status, body = docker("GET", f"/containers/{container}/json")
    if status != 200:
        return False
    labels = json.loads(body)["Config"]["Labels"] or {}
    return (
        labels.get("com.docker.compose.project") == PROJECT
        and labels.get("com.docker.compose.service") == SERVICE
    )


def refusal(method, path, body):
    """Why the call is refused, or None to let it through."""
    path, _, query = path.partition("?")
    path = VERSION.sub("", path)
    if method in ("GET", "HEAD"):
        return None if READS.fullmatch(path) else f"reading {path} is not needed to scale web"
    if method == "POST" and path == "/containers/create":
        return create_refusal(json.loads(body or b"{}"), replicas)
    action = ACTIONS.fullmatch(path)
    if method == "POST" and action:
        return (
            None
            if is_ours(action.group(1))
            else f"{action.group(2)} of a container that is not {PROJECT}'s web"
        )
    removal = re.fullmatch(r"/containers/([^/]+)", path)
    if method == "DELETE" and removal:
        return None if is_ours(removal.group(1)) else f"removing a container that is not {PROJECT}'s web"
    update = SERVICE_UPDATE.fullmatch(path)
    if method == "POST" and update:
        status, found = docker("GET", f"/services/{urllib.parse.quote(update.group(1))}")
        if status != 200:
            return f"updating a service Docker does not know ({update.group(1)})"
        return update_refusal(json.loads(found), urllib.parse.parse_qs(query), json.loads(body or b"{}"))
    if method == "POST" and re.fullmatch(r"/networks/[^/]+/connect", path):
        container = json.loads(body or b"{}").get("Container", "")
        return None if is_ours(container) else f"connecting a container that is not {PROJECT}'s web"
    return f"{method} {path} is not needed to scale web"


def replicas():
    """How many web containers the project has, in any state."""
    labels = [f"com.docker.compose.project={PROJECT}", f"com.docker.compose.service={SERVICE}"]
    query = urllib.parse.urlencode({"all": "1", "filters": json.dumps({"label": labels})})
    status, body = docker("GET", f"/containers/json?{query}")
    if status != 200:
        raise OSError(f"Docker answered {status} to the list of web containers")
    return len(json.loads(body))


def create_refusal(spec, count):
    """Why a new container is refused, or None; COUNT() says how many web containers there are."""
    labels = spec.get("Labels") or {}
    host = spec.get("HostConfig") or {}
    if (labels.get("com.docker.compose.project"), labels.get("com.docker.compose.service")) != (
        PROJECT,
        SERVICE,
    ):
        return f"a new container that is not one of {PROJECT}'s web replicas"
    if spec.get("Image") not in (f"{PROJECT}-{SERVICE}", f"{PROJECT}-{SERVICE}:latest"):
        return f"a web replica of another image than {PROJECT}-{SERVICE} ({spec.get('Image')})"
    if host.get("Privileged") or host.get("CapAdd") or host.get("Devices") or host.get("DeviceRequests"):
        return "a container with privileges, capabilities or devices"
    if any(str(host.get(mode) or "").startswith(("host", "container:")) for mode in HOST_MODES):
        return "a container in the host's or another container's namespaces"
    sources = [bind.split(":")[0] for bind in host.get("Binds") or []]
    sources += [mount.get("Source", "") for mount in host.get("Mounts") or [] if mount.get("Type") == "bind"]
    outside = [s for s in sources if not os.path.normpath(s).startswith(f"{PROJECT_DIR}/secrets/")]
    if outside:
        return f"a container that mounts {outside[0]} (only the project's secrets files may be)"
    if count() >= MOST:
        return f"a web replica beyond the autoscaler's most, {MOST}"
    return None


def update_refusal(found, query, spec):
    """Why an update of the Swarm service FOUND (as Docker has it) to SPEC is refused, or None:
    only the stack's web service, only its replicas, and no more than MOST of them."""
    if found["Spec"].get("Name") != f"{PROJECT}_{SERVICE}":
        return f"updating a service that is not {PROJECT}'s web"
    if set(query) - {"version"}:
        return f"an update of web with {', '.join(sorted(set(query) - {'version'}))}"
    try:
        wanted = int(spec["Mode"]["Replicated"]["Replicas"])
    except (KeyError, TypeError, ValueError):
        return "an update of web that does not say its replicas"
    kept = json.loads(json.dumps(found["Spec"]))
    kept["Mode"]["Replicated"]["Replicas"] = wanted
    if spec != kept:
        return "an update of web that changes more than its replicas"
    if wanted > MOST:
        return f"a web replica beyond the autoscaler's most, {MOST}"
    return None


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = self.rfile.readline(65536)
            if not line:
                return
            head += line
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
        body = self.rfile.read(int(headers.get("content-length", "0")))
        if "chunked" in headers.get("transfer-encoding", ""):
            return self.answer(411, f"{method} {path}: a chunked body is not needed to scale web")
        try:
            why = refusal(method, path, body)
        except (ValueError, KeyError, OSError) as error:
            why = f"{method} {path} could not be judged ({error})"
        if why:
            return self.answer(403, f"refused by the autoscaler's socket proxy: {why}")
        kept = [h for h in lines[1:] if h and not h.lower().startswith(("connection:", "content-length:"))]
        request = "\r\n".join([lines[0], *kept, f"Content-Length: {len(body)}", "Connection: close", "", ""])
        with socket.socket(socket.AF_UNIX) as upstream:
            upstream.connect(DOCKER_SOCKET)
            upstream.sendall(request.encode("latin-1") + body)
            for chunk in iter(lambda: upstream.recv(65536), b""):
                self.wfile.write(chunk)

    def answer(self, status, message):
        print(f"socket-proxy: {message}", file=sys.stderr, flush=True)
        body = json.dumps({"message": message}).encode()
        reason = {403: "Forbidden", 411: "Length Required"}[status]
        self.wfile.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    print(f"socket-proxy: scaling {PROJECT}'s web only, on :2375", flush=True)
    Server(("", 2375), Handler).serve_forever()
