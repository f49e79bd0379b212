"""The tests' load client: a client that hangs fails the run instead of leaving a half-written result."""

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
