"""gunicorn sends a response's headers and its first body bytes in one write.

gunicorn writes the headers, then the body, in two system calls. A replica killed or frozen
between the two has passed nginx the headers of a 200, which nginx passes on at once: the client
then sees a cut 200 for a request that was counted, and nginx can no longer try another replica.
In one write, a small answer such as the greeting reaches nginx whole or not at all; if not at
all, nginx passes the request to another replica, whose answer the request id makes the same.
"""

from gunicorn.http import wsgi


class Held:
    """Stands in for the socket while gunicorn writes the headers, and keeps them."""

    def __init__(self):
        self.data = b""

    def sendall(self, data):
        self.data += data


class OneWriteResponse(wsgi.Response):
    held = b""

    def send_headers(self):
        if self.headers_sent:
            return
        sock, held = self.sock, Held()
        self.sock = held
        try:
            super().send_headers()
        finally:
            self.sock = sock
        self.held = held.data

    def _emit_body(self, data):
        if self.held and not self.chunked:
            data, self.held = self.held + data, b""
        else:
            self.flush()
        super()._emit_body(data)

    def flush(self):
        if self.held:
            self.sock.sendall(self.held)
            self.held = b""

    def close(self):
        if not self.headers_sent:
            self.send_headers()
        self.flush()  # a response with no body (HEAD, 204, 304) has only its headers to send
        super().close()


def install():
    """Every response gunicorn makes from now on is a OneWriteResponse. gunicorn's sendfile
    must be off (gunicorn.conf.py), as it writes a file's bytes around these methods."""
    wsgi.Response = OneWriteResponse
