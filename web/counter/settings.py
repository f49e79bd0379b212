"""The web tier's settings: each default once, here, read from the environment and checked at start."""

import os
import re
from dataclasses import dataclass, field, fields

# nginx's wait for a replica's answer (lb/site/nginx.conf's proxy_read_timeout, which a test holds to
# this): a replica must answer, a 503 at worst, before nginx gives up on it.
NGINX_REPLICA_WAIT = 1.0


class SettingsError(ValueError):
    """A setting that cannot be used; its message is one line naming the variable and the value."""


def setting(default, minimum=None, choices=None, maximum=None):
    return field(default=default, metadata={"minimum": minimum, "maximum": maximum, "choices": choices})


@dataclass(frozen=True)
class Settings:
    # The app: one Redis at REDIS_URL, or (sentinel) the primary that the sentinels name.
    REDIS_MODE: str = setting("single", choices=("single", "sentinel"))
    REDIS_URL: str = setting("redis://redis:6379/0")
    # Sentinel mode: every sentinel's host:port (the scripts derive it from docker-compose.yml).
    REDIS_SENTINELS: str = setting("")
    REDIS_PRIMARY_NAME: str = setting("counter")  # the sentinels' name for the primary
    REDIS_USERNAME: str = setting("")
    REDIS_PASSWORD_FILE: str = setting("")
    # on: Redis and the sentinels are reached over TLS, with this certificate (and its key, in the
    # same file) from the stack's authority, whose certificate is REDIS_TLS_CA_FILE.
    REDIS_TLS: str = setting("off", choices=("off", "on"))
    REDIS_TLS_CERT_FILE: str = setting("/run/secrets/redis_tls")
    REDIS_TLS_CA_FILE: str = setting("/run/secrets/redis_tls_ca")
    # Sentinel mode: an increment is answered 200 only once this many replicas have it in their
    # append-only file (WAIT, then WAITAOF), each waited for at most REDIS_ACK_TIMEOUT seconds.
    # 0 turns the acknowledgement off (and Redis's min-replicas-to-write with it).
    REDIS_ACK_REPLICAS: int = setting(1, minimum=0, maximum=2)
    REDIS_ACK_TIMEOUT: float = setting(0.05, minimum=0.001)
    # Each try's name lookup, connect and reply: at most this many seconds each.
    REDIS_TIMEOUT: float = setting(0.2, minimum=0.01)
    # A request's whole time with Redis, its tries and the pauses between them together: shorter
    # than nginx's wait for a replica (lb/site/nginx.conf), so a replica answers (a 503) before it.
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
    # In-flight requests get this long after SIGTERM; the container's stop grace period (Compose's
    # WEB_STOP_GRACE, passed here to be checked) must be longer, or they are killed first.
    GUNICORN_GRACEFUL_TIMEOUT: int = setting(10, minimum=1)
    WEB_STOP_GRACE: str = setting("15s")
    GUNICORN_LOGLEVEL: str = setting("info", choices=("debug", "info", "warning", "error", "critical"))
    GUNICORN_ACCESSLOG: str = setting("")

    @classmethod
    def from_env(cls, environ=os.environ):
        """The defaults, overridden by non-empty environment variables of the same name."""
        values = {}
        for spec in fields(cls):
            raw = environ.get(spec.name, "")
            values[spec.name] = spec.default if raw == "" else parse(spec, raw)
        check_limits(values)
        return cls(**values)

    @classmethod
    def with_changes(cls, changes, environ=os.environ):
        """The settings of `environ` with some of them changed (typed values, as tests give them),
        checked as at start."""
        names = {spec.name for spec in fields(cls)}
        return cls.from_env({**environ, **{k: str(v) for k, v in changes.items() if k in names}})

    def as_dict(self):
        return {spec.name: getattr(self, spec.name) for spec in fields(self)}


def parse(spec, raw):
    kind, minimum, maximum = spec.type, spec.metadata["minimum"], spec.metadata["maximum"]
    choices = spec.metadata["choices"]
    try:
        value = kind(raw)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{spec.name} must be {noun}, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{spec.name} must be at least {minimum}, got {raw!r}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{spec.name} must be at most {maximum}, got {raw!r}")
    if choices is not None and value not in choices:
        raise SettingsError(f"{spec.name} must be one of {', '.join(choices)}, got {raw!r}")
    return value


def sentinel_addresses(text):
    """[(host, port)] of a REDIS_SENTINELS list: host:port, separated by commas."""
    if not text.strip():
        raise SettingsError(
            "REDIS_SENTINELS is empty: under REDIS_MODE=sentinel it lists every sentinel's host:port"
        )
    addresses = []
    for item in text.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(
                f"REDIS_SENTINELS must list host:port pairs separated by commas, got {text!r}"
            )
        addresses.append((host, int(port)))
    return addresses


def check_limits(values):
    """The limits between settings, each said in one line."""
    if values["REDIS_MODE"] == "sentinel":
        sentinel_addresses(values["REDIS_SENTINELS"])
        if 2 * values["REDIS_ACK_TIMEOUT"] >= values["REDIS_TIMEOUT"]:
            raise SettingsError(
                "REDIS_ACK_TIMEOUT must be under half of REDIS_TIMEOUT (WAIT and WAITAOF answer "
                f"within one reply), got {values['REDIS_ACK_TIMEOUT']} and {values['REDIS_TIMEOUT']}"
            )
    if values["REDIS_BUDGET"] < 3 * values["REDIS_TIMEOUT"]:
        raise SettingsError(
            "REDIS_BUDGET must be at least 3 times REDIS_TIMEOUT (one try's lookup, connect "
            f"and reply), got {values['REDIS_BUDGET']} and {values['REDIS_TIMEOUT']}"
        )
    # Under Sentinel a request may also spend one REDIS_TIMEOUT asking the sentinels.
    worst = values["REDIS_BUDGET"] + (values["REDIS_TIMEOUT"] if values["REDIS_MODE"] == "sentinel" else 0)
    if worst >= NGINX_REPLICA_WAIT:
        raise SettingsError(
            f"REDIS_BUDGET must leave a replica time to answer within nginx's {NGINX_REPLICA_WAIT:g} s "
            f"wait for it, got a request's worst of {worst:g} s"
        )
    if values["REDIS_START_WAIT"] >= values["GUNICORN_TIMEOUT"]:
        raise SettingsError(
            "REDIS_START_WAIT must be under GUNICORN_TIMEOUT (gunicorn ends a worker that takes "
            f"longer to start), got {values['REDIS_START_WAIT']:g} and {values['GUNICORN_TIMEOUT']}"
        )
    grace = seconds(values["WEB_STOP_GRACE"])
    if values["GUNICORN_GRACEFUL_TIMEOUT"] >= grace:
        raise SettingsError(
            "GUNICORN_GRACEFUL_TIMEOUT must be under WEB_STOP_GRACE (the container is killed then), "
            f"got {values['GUNICORN_GRACEFUL_TIMEOUT']} and {values['WEB_STOP_GRACE']}"
        )


def seconds(duration):
    """Seconds of a Compose duration such as 15s, 1m30s or 500ms."""
    parts = re.fullmatch(r"((\d+)h)?((\d+)m(?!s))?((\d+)s)?((\d+)ms)?", duration)
    if not duration or parts is None:
        raise SettingsError(f"WEB_STOP_GRACE must be a duration such as 15s or 1m30s, got {duration!r}")
    hours, minutes, whole, millis = (int(parts.group(n) or 0) for n in (2, 4, 6, 8))
    return 3600 * hours + 60 * minutes + whole + millis / 1000
