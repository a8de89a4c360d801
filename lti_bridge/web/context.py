"""Access to the process's services from inside a request."""

from __future__ import annotations

from flask import current_app, request

from lti_bridge.bootstrap import Services


def services() -> Services:
    return current_app.extensions["lti_bridge"]  # type: ignore[no-any-return]


def public_base_url() -> str:
    """The tool's external base URL: the setting, else what the request says."""
    configured = services().settings.public_url
    return (configured or request.host_url).rstrip("/")
