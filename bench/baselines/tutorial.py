"""The original getting-started app, served the original way: Flask's built-in server.

Only what the benchmark needs differs: the Redis login (this stack's Redis requires one) and
a key the app's Redis user may write. It is a baseline to compare against, not a way to serve.
"""

import os
import time

import redis
from flask import Flask

app = Flask(__name__)
with open(os.environ["REDIS_PASSWORD_FILE"]) as secret:
    cache = redis.Redis(host="redis", port=6379, username="counter", password=secret.read().strip())


def get_hit_count():
    retries = 5
    while True:
        try:
            return cache.incr("counter:tutorial-hits")
        except redis.exceptions.ConnectionError as exc:
            if retries == 0:
                raise exc
            retries -= 1
            time.sleep(0.5)


@app.route("/")
def hello():
    count = get_hit_count()
    return f"Hello World! I have been seen {count} times.\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=8000)
