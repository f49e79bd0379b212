"""gunicorn's response, made to write headers and body at once (counter/one_write.py)."""

from gunicorn.config import Config
from gunicorn.http.message import Request
from gunicorn.http.unreader import IterUnreader

from counter.one_write import OneWriteResponse


class Wire:
    """A socket that records each write gunicorn makes."""

    def __init__(self):
        self.writes = []

    def sendall(self, data):
        self.writes.append(bytes(data))


def respond(method, headers, body_parts, version=b"1.1"):
    cfg = Config()
    request = Request(
        cfg,
        IterUnreader([f"{method} / HTTP/{version.decode()}\r\nHost: x\r\n\r\n".encode()]),
        ("127.0.0.1", 1),
        1,
    )
    wire = Wire()
    response = OneWriteResponse(request, wire, cfg)
    response.start_response("200 OK", headers)
    for part in body_parts:
        response.write(part)
    response.close()
    return wire.writes


def test_headers_and_a_small_body_leave_in_one_write():
    body = b"Hello World! I have been seen 7 times.\n"
    writes = respond("GET", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))], [body])
    assert len(writes) == 1
    head, sent = writes[0].split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"Content-Length: 39" in head
    assert sent == body


def test_a_response_with_no_body_still_sends_its_headers():
    writes = respond("HEAD", [("Content-Type", "text/plain"), ("Content-Length", "39")], [b"ignored"])
    assert len(writes) == 1 and writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"\r\n\r\n")


def test_a_streamed_response_keeps_its_chunks_after_the_headers():
    writes = respond("GET", [("Content-Type", "text/plain")], [b"one", b"two"])
    head = writes[0]
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"Transfer-Encoding: chunked" in head
    assert b"".join(writes[1:]) == b"3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"
