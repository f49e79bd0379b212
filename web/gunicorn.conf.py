"""gunicorn settings: their defaults live with the app's, in counter/settings.py."""

import sys

from counter.settings import Settings, SettingsError

try:
    settings = Settings.from_env()
except SettingsError as error:
    sys.exit(f"web: {error}")  # one line, before any worker starts

# The app
wsgi_app = "counter:create_app()"

# Socket
bind = settings.GUNICORN_BIND
backlog = settings.GUNICORN_BACKLOG

# Workers: threads so that nginx's keep-alive connections to the replica are kept.
workers = settings.GUNICORN_WORKERS
worker_class = settings.GUNICORN_WORKER_CLASS
threads = settings.GUNICORN_THREADS

# Timeouts: keepalive outlives nginx's upstream keepalive_timeout (60 s), so nginx
# closes idle connections first and never sends on one the replica just closed.
timeout = settings.GUNICORN_TIMEOUT
keepalive = settings.GUNICORN_KEEPALIVE
graceful_timeout = settings.GUNICORN_GRACEFUL_TIMEOUT

# Logging: errors to stderr; access lines only on request (nginx logs every request).
errorlog = "-"
loglevel = settings.GUNICORN_LOGLEVEL
accesslog = settings.GUNICORN_ACCESSLOG or None
