"""CSRF tokens bound to what a form acts on, not to a cookie.

The tool runs in LMS iframes where third-party cookies are often blocked, so a session-cookie
CSRF token would fail for honest users. A form instead carries an unguessable handle (a launch
id) and an HMAC of it under the app's secret key: a cross-site page can know neither.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app

from lti_bridge.domain.errors import LtiBridgeError


class CsrfError(LtiBridgeError):
    public_message = "This form has expired or did not come from the tool. Please start again."


def token_for(purpose: str, value: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def check(purpose: str, value: str, token: str) -> None:
    """Raise ``CsrfError`` unless ``token`` was issued for ``purpose`` and ``value``."""
    if not value or not token or not hmac.compare_digest(token_for(purpose, value), token):
        raise CsrfError(f"bad or missing CSRF token for {purpose}")
