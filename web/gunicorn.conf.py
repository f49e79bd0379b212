"""gunicorn settings, each read from the environment with its default here."""

import os


def env(name, default):
    return type(default)(os.environ.get(name) or default)


# The app
wsgi_app = "counter:create_app()"

# Socket
bind = env("GUNICORN_BIND", "0.0.0.0:8000")
backlog = env("GUNICORN_BACKLOG", 2048)

# Workers: threads so that nginx's keep-alive connections to the replica are kept.
workers = env("GUNICORN_WORKERS", 2)
worker_class = env("GUNICORN_WORKER_CLASS", "gthread")
threads = env("GUNICORN_THREADS", 4)

# Timeouts: keepalive outlives nginx's upstream keepalive_timeout (60 s), so nginx
# closes idle connections first and never sends on one the replica just closed.
timeout = env("GUNICORN_TIMEOUT", 30)
keepalive = env("GUNICORN_KEEPALIVE", 75)
# In-flight requests get this long after SIGTERM; Compose's stop_grace_period is longer.
graceful_timeout = env("GUNICORN_GRACEFUL_TIMEOUT", 10)

# Logging: errors to stderr; access lines only on request (nginx logs every request).
errorlog = "-"
loglevel = env("GUNICORN_LOGLEVEL", "info")
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
