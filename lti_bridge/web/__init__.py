"""The web layer: ``create_app`` builds the Flask application (``web/app.py``) with the command
line's commands on it too, so ``flask --app lti_bridge.web …`` offers what ``lti-bridge`` does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from lti_bridge.bootstrap import Services
from lti_bridge.web import app as _app
from lti_bridge.web import cli


def create_app(
    test_config: Mapping[str, Any] | None = None, *, services: Services | None = None
) -> Flask:
    """Build the app: defaults, then ``LTI_BRIDGE_*`` environment, then ``test_config``."""
    app = _app.create_app(test_config, services=services)
    cli.register_commands(app)
    return app
