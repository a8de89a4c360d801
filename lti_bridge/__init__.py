"""lti_bridge: an LTI 1.3 tool between a university's course platform and its SIS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app, so ``flask --app lti_bridge`` works; nothing is built on import."""
    from lti_bridge.web import create_app as build

    return build(test_config)
