"""Users who come to be counted: mostly `GET /`, now and then a look at `/count`.

Every answer is checked (status, the sentence, a positive count), so a wrong body is a failure.
Each request carries its own Idempotency-Key, and a request that hit a connection error or a
5xx is retried with the same key: it counts once however many attempts it took. Every test gets
its exactness verdict over the requests that count (judge.py).
"""

import os
import re
import uuid

from judge import judge_every_test
from locust import FastHttpUser, LoadTestShape, between, task
from shape import SHAPES

SENTENCE = re.compile(r"Hello World! I have been seen ([1-9][0-9]*) times\.\n")
COUNT_UP = "GET / (count up)"
RETRY = "GET / (retry)"
READ = "GET /count (read)"
ATTEMPTS = 3

judge_every_test(counting=(COUNT_UP, RETRY))


class Visitor(FastHttpUser):
    wait_time = between(0.0, 0.05)

    @task(20)
    def count_up(self):
        key = uuid.uuid4().hex
        for attempt in range(ATTEMPTS):
            name = COUNT_UP if attempt == 0 else RETRY
            with self.client.get(
                "/", headers={"Idempotency-Key": key}, name=name, catch_response=True
            ) as response:
                if response.status_code == 200:
                    if SENTENCE.fullmatch(response.text or ""):
                        response.success()
                    else:
                        response.failure(f"unexpected body: {response.text!r:.80}")
                    return
                response.failure(f"status {response.status_code}")
                if response.status_code and response.status_code < 500:
                    return  # a 4xx will not change on a retry

    @task(1)
    def read_count(self):
        with self.client.get("/count", name=READ, catch_response=True) as response:
            try:
                count = response.json()["count"]
            except (TypeError, ValueError, KeyError):
                count = None
            if response.status_code != 200 or not isinstance(count, int) or count < 0:
                response.failure(f"unexpected answer: {response.status_code} {response.text!r:.80}")


if os.environ.get("LOAD_SHAPE") in SHAPES:

    class Shaped(LoadTestShape):
        """USERS and DURATION (locust's --users, --run-time) drawn as LOAD_SHAPE (shape.py)."""

        use_common_options = True

        def tick(self):
            options = self.runner.environment.parsed_options
            users = SHAPES[os.environ["LOAD_SHAPE"]]
            return users(self.get_run_time(), options.num_users, options.run_time)
