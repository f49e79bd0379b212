"""HTTP endpoints: the greeting that counts, read-only views of the count, and health probes."""

import re
import socket

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import BadRequest

from . import metrics
from .store import get_store

bp = Blueprint("counter", __name__)

REPLICA = socket.gethostname()
KEY_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


def text(body, headers=None):
    return Response(body, 200, headers, content_type="text/plain; charset=utf-8")


def request_key():
    """The key that makes this request count at most once, or None.

    A client's Idempotency-Key wins; otherwise the request id the load balancer
    gives every request (so its own retries on another replica count once).
    """
    for header, prefix in (("Idempotency-Key", "key:"), ("X-Request-Id", "req:")):
        value = request.headers.get(header)
        if value is None:
            continue
        if not KEY_PATTERN.fullmatch(value):
            raise BadRequest(f"{header} must be 1 to 64 characters of A-Z a-z 0-9 . _ -")
        return prefix + value
    return None


@bp.before_request
def no_query_strings():
    # No endpoint takes parameters; a query string is a mistake or a probe.
    if request.query_string:
        raise BadRequest("no query string is accepted here")


@bp.get("/")
def hello():
    key = request_key()
    headers = {"X-Served-By": REPLICA, "Cache-Control": "no-store"}
    if request.method == "HEAD":
        # Probes and link checkers send HEAD; only a GET that shows the count counts.
        return text("", headers)
    count, replayed = get_store().increment(REPLICA, key)
    metrics.counted(replayed)
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return text(f"Hello World! I have been seen {count} times.\n", headers)


@bp.get("/count")
def count():
    return jsonify(count=get_store().count())


@bp.get("/stats")
def stats():
    return jsonify(get_store().stats())


@bp.get("/healthz")
def healthz():
    return text("ok\n")


@bp.get("/readyz")
def readyz():
    get_store().ping()
    return text("ready\n")
