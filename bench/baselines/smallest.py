"""The smallest Flask app that counts: one route, one INCR, the greeting. `make bench` measures the
web tier's CPU per request against it, on the same gunicorn settings, CPU limit and Redis: what the
counter's app does beyond this (its key, its Lua step, its time budgets, its metrics) costs that
much more."""

import os

import redis
from flask import Flask

app = Flask(__name__)
with open(os.environ["REDIS_PASSWORD_FILE"]) as secret:
    store = redis.Redis(host="redis", username="counter", password=secret.read().strip())


@app.get("/")
def hello():
    return f"Hello World! I have been seen {store.incr('counter:smallest')} times.\n"
