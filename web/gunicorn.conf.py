"""gunicorn settings: their defaults live with the app's, in counter/settings.py."""

import os
import shutil
import sys

from prometheus_client import multiprocess

# Metrics (counter/metrics.py): each worker writes its figures to PROMETHEUS_MULTIPROC_DIR, which
# must exist, empty, before any metric is made (importing counter below makes them).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"])

from counter import one_write  # noqa: E402
from counter.settings import Settings, SettingsError  # noqa: E402

try:
    settings = Settings.from_env()
except SettingsError as error:
    sys.exit(f"web: {error}")  # one line, before any worker starts

# The app
wsgi_app = "counter:create_app()"

# Socket
bind = settings.GUNICORN_BIND
backlog = settings.GUNICORN_BACKLOG

# Workers: threads so that nginx's keep-alive connections to the replica are kept; gthread is
# gunicorn's own but for one thing: told to stop, it stops listening at once (counter/worker.py).
workers = settings.GUNICORN_WORKERS
worker_class = {"gthread": "counter.worker.ThreadWorker"}.get(
    settings.GUNICORN_WORKER_CLASS, settings.GUNICORN_WORKER_CLASS
)
threads = settings.GUNICORN_THREADS

# Timeouts: keepalive outlives nginx's upstream keepalive_timeout (60 s), so nginx
# closes idle connections first and never sends on one the replica just closed.
timeout = settings.GUNICORN_TIMEOUT
keepalive = settings.GUNICORN_KEEPALIVE
graceful_timeout = settings.GUNICORN_GRACEFUL_TIMEOUT

# No control socket (gunicornc): nothing here uses it, and it would be made in $HOME, which the
# read-only container cannot write (an ERROR line at every start).
control_socket_disable = True

# Logging: errors to stderr; access lines only on request (nginx logs every request).
errorlog = "-"
loglevel = settings.GUNICORN_LOGLEVEL
accesslog = settings.GUNICORN_ACCESSLOG or None

# Each response's headers and first body bytes in one write, so that a replica killed or frozen
# mid-response never hands nginx the headers of a 200 alone (counter/one_write.py).
one_write.install()
sendfile = False


# A worker that ended has its figures kept but its gauges let go (counter/metrics.py).
def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
