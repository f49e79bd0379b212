"""Every error leaves as one short line of text with the right status; tracebacks stay in the log."""

from flask import Response, current_app
from redis import exceptions as redis_errors
from werkzeug.exceptions import HTTPException

from .acknowledgement import NotAcknowledged

RETRY_LATER = {"Retry-After": "1"}


def one_line(status, reason, headers=None):
    return Response(f"{reason}\n", status, headers, content_type="text/plain; charset=utf-8")


def http_error(error):
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    reason = f"{error.code} {error.name}"
    if error.description != type(error).description:  # a reason of ours, not werkzeug's paragraph
        reason += f": {error.description}"
    return one_line(error.code, reason, headers)


def store_unreachable(error):
    current_app.logger.warning("counter store unreachable: %s", error)
    return one_line(503, "503 Service Unavailable: the counter store cannot be reached", RETRY_LATER)


def not_acknowledged(error):
    current_app.logger.warning("counter store: %s", error)
    return one_line(
        503, "503 Service Unavailable: the count was not confirmed by a replica in time", RETRY_LATER
    )


def login_refused(error):
    current_app.logger.error(
        "Redis refused the app's login: %s (check REDIS_USERNAME and REDIS_PASSWORD_FILE)", error
    )
    return one_line(500, "500 Internal Server Error: the counter store refused the app's login")


def unexpected(error):
    current_app.logger.exception("unhandled error")
    return one_line(500, "500 Internal Server Error")


def init_app(app):
    app.register_error_handler(HTTPException, http_error)
    # BusyLoadingError (Redis replaying its log after a restart) is a ConnectionError too.
    app.register_error_handler(redis_errors.ConnectionError, store_unreachable)
    app.register_error_handler(redis_errors.TimeoutError, store_unreachable)
    app.register_error_handler(NotAcknowledged, not_acknowledged)
    # A ConnectionError to redis-py, but no outage: retrying elsewhere or later cannot help.
    app.register_error_handler(redis_errors.AuthenticationError, login_refused)
    app.register_error_handler(Exception, unexpected)
