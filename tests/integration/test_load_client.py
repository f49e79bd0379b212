"""The tests' load client: a client that hangs fails the run instead of leaving a half-written result."""

import http.server
import socket
import threading
import time

import pytest

from helpers import load_client


@pytest.fixture
def dribbling_server():
    """A server that answers every connection one byte a second, so no client read ever times out."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def dribble(conn):
        with conn:
            conn.recv(4096)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 60:
                if stop.is_set():
                    return
                conn.sendall(bytes([byte]))
                time.sleep(1)

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed at the end of the test
                return
            threading.Thread(target=dribble, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def test_a_hung_client_fails_the_run(dribbling_server):
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="2 of 2 load clients still busy 1 s after the run ended"):
        load_client.run(dribbling_server, clients=2, seconds=0.5, settle=0, grace=1)
    assert time.monotonic() - started < 5


@pytest.fixture
def counting_server_on_one_address():
    """A tiny counter on 127.0.0.2 only (nothing listens on 127.0.0.1 at that port): its port."""
    counts = {}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            key = self.headers["Idempotency-Key"]
            with lock:
                counts.setdefault(key, len(counts) + 1)
            body = f"Hello World! I have been seen {counts[key]} times.\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Served-By", "only")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_a_client_given_several_addresses_moves_on_from_one_that_refuses(counting_server_on_one_address):
    port = counting_server_on_one_address
    with socket.socket() as probe:  # nothing on 127.0.0.1 at that port
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    result = load_client.run(port, clients=4, seconds=1, retry=True, host=["127.0.0.1", "127.0.0.2"])
    assert result.gave_up == 0 and result.successes > 0
    assert result.attempts["ConnectionRefusedError"] <= 4  # each client once, then on to the other
    assert len(set(result.counts)) == result.successes


def test_a_during_that_fails_stops_the_clients_before_the_run_fails(counting_server_on_one_address):
    def during():
        time.sleep(0.3)
        raise RuntimeError("the operation under load failed")

    with pytest.raises(RuntimeError):
        load_client.run(counting_server_on_one_address, seconds=30, host="127.0.0.2", during=during)
    # Had the clients gone on for their 30 s, they would count into whatever runs next.
    assert [thread.name for thread in threading.enumerate() if thread.name.endswith("(loop)")] == []
