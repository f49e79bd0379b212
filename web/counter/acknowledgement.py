"""When an increment counts as acknowledged, so that it may be answered 200.

One Redis: when Redis answers, since it fsyncs its append-only file before every reply
(`appendfsync always`). Sentinel mode: when the primary and REDIS_ACK_REPLICAS replicas have it
in their append-only files. Asked on the same connection as the step, pipelined with it (one
round trip): WAIT first, which makes the replicas report at once rather than in their
once-a-second ack, then WAITAOF, which waits for the primary's and their fsync.
"""

from redis import exceptions as redis_errors


class NotAcknowledged(redis_errors.ConnectionError):
    """The primary answered, but the step is not acknowledged: it refused it whole (NOREPLICAS: too
    few replicas in sync, or it is handing over to another), or too few replicas confirmed it in
    time. Asked again within the budget, then answered 503; a retry with the same key answers the
    same count once the replicas confirm it."""


class Acknowledgement:
    def __init__(self, replicas, timeout):
        self.replicas = replicas
        self.timeout_ms = max(1, round(1000 * timeout))

    def ask(self, pipe):
        """Add the waits to a pipeline that holds the step."""
        pipe.wait(self.replicas, self.timeout_ms)
        pipe.waitaof(1, self.replicas, self.timeout_ms)

    def check(self, step_reply, waits):
        """Raise NotAcknowledged (or the error itself) unless the step and its waits succeeded."""
        if isinstance(step_reply, redis_errors.ResponseError):
            if str(step_reply).startswith("NOREPLICAS"):
                raise NotAcknowledged(
                    f"no replica to acknowledge: the primary has fewer than {self.replicas} "
                    "replicas in sync (min-replicas-to-write), so it refused the increment"
                )
            raise step_reply
        for reply in waits:
            if isinstance(reply, Exception):
                raise reply
        received, (_, on_disk) = waits
        if on_disk < self.replicas:
            raise NotAcknowledged(
                f"not acknowledged: {on_disk} of {self.replicas} replicas wrote the increment to "
                f"their append-only file within {self.timeout_ms} ms ({received} received it)"
            )


def from_config(config):
    """The rule for the app's settings, or None where Redis's own reply is the acknowledgement."""
    if config["REDIS_MODE"] == "single" or config["REDIS_ACK_REPLICAS"] == 0:
        return None
    return Acknowledgement(config["REDIS_ACK_REPLICAS"], config["REDIS_ACK_TIMEOUT"])
