"""The counter web app: an application factory, configured from the environment."""

import os

from flask import Flask

from . import errors, store, views

DEFAULTS = {
    "REDIS_URL": "redis://redis:6379/0",
    "REDIS_USERNAME": "",
    "REDIS_PASSWORD_FILE": "",
    "REDIS_TIMEOUT": 2.0,
    "REDIS_RETRIES": 3,
    "IDEMPOTENCY_WINDOW": 60,
}


def settings_from_env(environ=os.environ):
    """DEFAULTS overridden by environment variables of the same name."""
    config = {}
    for name, default in DEFAULTS.items():
        raw = environ.get(name)
        config[name] = default if raw in (None, "") else type(default)(raw)
    return config


def create_app(test_config=None):
    app = Flask(__name__)
    app.config.from_mapping(settings_from_env())
    if test_config:
        app.config.from_mapping(test_config)
    store.init_app(app)
    errors.init_app(app)
    app.register_blueprint(views.bp)
    return app
