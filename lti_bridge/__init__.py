"""lti_bridge: an LTI 1.3 tool between a university's course platform and its SIS."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


def create_app(test_config: Mapping[str, Any] | None = None) -> Any:
    """Build the Flask app, so ``flask --app lti_bridge`` works; nothing is built on import."""
    # Imported by name: the package root stays free of Flask, and the strict type check of the
    # core does not wander into the web layer through it.
    web = importlib.import_module("lti_bridge.web")
    return web.create_app(test_config)


def version() -> str:
    """The installed distribution's version (``lti-bridge --version``, the landing page)."""
    from importlib import metadata

    try:
        return metadata.version("lti-bridge")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"
