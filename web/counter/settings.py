"""The web tier's settings: each default once, here, read from the environment and checked at start."""

import os
from dataclasses import dataclass, field, fields


class SettingsError(ValueError):
    """A setting that cannot be used; its message is one line naming the variable and the value."""


def setting(default, minimum=None, choices=None):
    return field(default=default, metadata={"minimum": minimum, "choices": choices})


@dataclass(frozen=True)
class Settings:
    # The app
    REDIS_URL: str = setting("redis://redis:6379/0")
    REDIS_USERNAME: str = setting("")
    REDIS_PASSWORD_FILE: str = setting("")
    # Each try's name lookup, connect and reply: at most this many seconds each.
    REDIS_TIMEOUT: float = setting(0.2, minimum=0.01)
    # A request's whole time with Redis, its tries and the pauses between them together: shorter
    # than nginx's wait for a replica (lb/nginx.conf), so a replica answers (a 503) before it.
    REDIS_BUDGET: float = setting(0.75, minimum=0.02)
    # A starting worker waits this long for Redis to answer before it serves (503s until it can);
    # under gunicorn's worker timeout (30 s), which would end a worker still starting.
    REDIS_START_WAIT: float = setting(10.0, minimum=0)
    # A repeated Idempotency-Key (or a load balancer retry) counts once within this many seconds.
    IDEMPOTENCY_WINDOW: int = setting(60, minimum=1)

    # gunicorn
    GUNICORN_BIND: str = setting("0.0.0.0:8000")
    GUNICORN_BACKLOG: int = setting(2048, minimum=1)
    GUNICORN_WORKERS: int = setting(2, minimum=1)
    GUNICORN_WORKER_CLASS: str = setting("gthread", choices=("sync", "gthread"))
    GUNICORN_THREADS: int = setting(4, minimum=1)
    GUNICORN_TIMEOUT: int = setting(30, minimum=1)
    GUNICORN_KEEPALIVE: int = setting(75, minimum=1)
    # In-flight requests get this long after SIGTERM; the container's stop grace period is longer.
    GUNICORN_GRACEFUL_TIMEOUT: int = setting(10, minimum=1)
    GUNICORN_LOGLEVEL: str = setting("info", choices=("debug", "info", "warning", "error", "critical"))
    GUNICORN_ACCESSLOG: str = setting("")

    @classmethod
    def from_env(cls, environ=os.environ):
        """The defaults, overridden by non-empty environment variables of the same name."""
        values = {}
        for spec in fields(cls):
            raw = environ.get(spec.name, "")
            values[spec.name] = spec.default if raw == "" else parse(spec, raw)
        if values["REDIS_BUDGET"] < 3 * values["REDIS_TIMEOUT"]:
            raise SettingsError(
                "REDIS_BUDGET must be at least 3 times REDIS_TIMEOUT (one try's lookup, connect "
                f"and reply), got {values['REDIS_BUDGET']} and {values['REDIS_TIMEOUT']}"
            )
        return cls(**values)

    def as_dict(self):
        return {spec.name: getattr(self, spec.name) for spec in fields(self)}


def parse(spec, raw):
    kind, minimum, choices = spec.type, spec.metadata["minimum"], spec.metadata["choices"]
    try:
        value = kind(raw)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{spec.name} must be {noun}, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{spec.name} must be at least {minimum}, got {raw!r}")
    if choices is not None and value not in choices:
        raise SettingsError(f"{spec.name} must be one of {', '.join(choices)}, got {raw!r}")
    return value
