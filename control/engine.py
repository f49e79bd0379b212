"""Docker's API itself (HTTP over its socket, or over DOCKER_HOST's tcp://), for what runs where
Docker's command line is not: the autoscaler on Swarm, in its container, reaching Docker only
through its socket proxy (autoscaler/socket_proxy.py)."""

import http.client
import json
import socket
import urllib.parse

from control.errors import Stop

SOCKET = "/var/run/docker.sock"


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("docker", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Engine:
    """The engine at DOCKER_HOST (tcp://host:port or unix://path), or at Docker's socket."""

    def __init__(self, environ, timeout=30):
        self.host = environ.get("DOCKER_HOST") or f"unix://{SOCKET}"
        self.timeout = timeout
        scheme, _, where = self.host.partition("://")
        if scheme not in ("tcp", "unix") or not where:
            raise Stop(f"DOCKER_HOST must be tcp://HOST:PORT or unix://PATH, got '{self.host}'")

    def connection(self):
        scheme, _, where = self.host.partition("://")
        if scheme == "unix":
            return UnixConnection(where, self.timeout)
        host, _, port = where.rstrip("/").rpartition(":")
        return http.client.HTTPConnection(host, int(port), timeout=self.timeout)

    def call(self, method, path, query=None, body=None):
        """The JSON Docker answers METHOD PATH with; a Stop with its message where it refuses."""
        if query:
            path = f"{path}?{urllib.parse.urlencode(query)}"
        connection = self.connection()
        try:
            payload = None if body is None else json.dumps(body)
            connection.request(method, path, payload, {"Content-Type": "application/json"})
            response = connection.getresponse()
            text = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise Stop(f"Docker at {self.host} did not answer {method} {path}: {error}") from None
        finally:
            connection.close()
        found = json.loads(text) if text.strip() else None
        if response.status >= 400:
            message = found.get("message", "") if isinstance(found, dict) else text.decode(errors="replace")
            raise Stop(f"Docker refused {method} {path} ({response.status}): {message.strip()}")
        return found
