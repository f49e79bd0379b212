"""Prometheus metrics of a replica, at /metrics (which nginx does not pass on from outside).

gunicorn runs several worker processes per replica; with PROMETHEUS_MULTIPROC_DIR set (on the
container's tmpfs, emptied at start by gunicorn.conf.py), each writes its figures there and
/metrics adds them up, so a scrape sees the whole replica whichever worker answers it.
"""

import os
import time

from flask import Response, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "counter_http_requests", "HTTP requests answered, by endpoint and status.", ["endpoint", "status"]
)
INCREMENTS = Counter("counter_increments", "Requests counted (the counter went up by one).")
REPLAYS = Counter(
    "counter_replays", "Requests answered with the count of an earlier one (a repeated key or request id)."
)
REDIS_SECONDS = Histogram(
    "counter_redis_call_seconds",
    "Time of each of the app's Redis calls, its retries included.",
    ["call"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)


def timed(call, operation):
    """Run operation() and observe how long it took as Redis call `call`."""
    started = time.perf_counter()
    try:
        return operation()
    finally:
        REDIS_SECONDS.labels(call).observe(time.perf_counter() - started)


def counted(replayed):
    (REPLAYS if replayed else INCREMENTS).inc()


def exposition():
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


def init_app(app):
    @app.after_request
    def count_request(response):
        endpoint = request.url_rule.endpoint if request.url_rule else "none"
        if endpoint != "counter.metrics":
            REQUESTS.labels(endpoint.removeprefix("counter."), str(response.status_code)).inc()
        return response

    @app.get("/metrics", endpoint="counter.metrics")
    def metrics():
        return Response(exposition(), 200, content_type=CONTENT_TYPE_LATEST)
