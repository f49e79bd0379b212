"""The counter web app: an application factory, configured from the environment."""

from flask import Flask

from . import cli, errors, metrics, store, views
from .settings import Settings


def create_app(test_config=None):
    """The app, from the environment's settings; a test's changes are checked as those are."""
    app = Flask(__name__)
    app.config.from_mapping(Settings.with_changes(test_config or {}).as_dict())
    if test_config:
        app.config.from_mapping(test_config)
    store.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    app.register_blueprint(views.bp)
    metrics.init_app(app)
    return app
