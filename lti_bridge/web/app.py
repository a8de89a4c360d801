"""The Flask application: settings, services and every blueprint (``create_app``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from lti_bridge import telemetry
from lti_bridge.bootstrap import Services, build_services
from lti_bridge.config import ensure_secret_key, load_settings
from lti_bridge.services.outbox import outbox_depth
from lti_bridge.web import (
    api,
    errors,
    grades,
    health,
    home,
    lti,
    metrics,
    register,
    roster,
    security,
    webhooks,
)
from lti_bridge.web.sessions import NoSessionInterface


def create_app(
    test_config: Mapping[str, Any] | None = None, *, services: Services | None = None
) -> Flask:
    """Build the app: defaults, then ``LTI_BRIDGE_*`` environment, then ``test_config``."""
    settings = ensure_secret_key(load_settings(overrides=test_config))
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.session_interface = NoSessionInterface()
    telemetry.configure_logging(settings.log_format, settings.log_level)
    svc = app.extensions["lti_bridge"] = services or build_services(settings)
    # /metrics reads the outbox's depth when it is scraped (one process, one app).
    telemetry.register_outbox_probe(lambda: outbox_depth(uow=svc.uow(), now=svc.clock()))

    errors.register(app)
    security.register(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(lti.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(register.bp)
    app.register_blueprint(grades.bp)
    app.register_blueprint(roster.bp)
    app.register_blueprint(api.bp)
    return app
