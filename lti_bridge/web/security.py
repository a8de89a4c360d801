"""Security headers on every response, and the proxy headers trusted only when configured.

- ``Content-Security-Policy``: scripts and styles only from the tool or carrying this response's
  nonce (no injected inline script runs); ``frame-ancestors`` limited to the registered
  platforms' origins (issuer and login URL) plus ``LTI_BRIDGE_FRAME_ANCESTORS``, so another
  site cannot frame the tool's pages (clickjacking a staff member's roster or deep-link form).
- ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``: URLs the tool
  serves carry launch and login parameters that no other site needs.
- ``X-Forwarded-*`` are honoured (werkzeug's ``ProxyFix``) only with
  ``LTI_BRIDGE_TRUSTED_PROXIES`` set to the number of proxies in front: otherwise any client
  could claim to be https or another host.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g
from werkzeug.middleware.proxy_fix import ProxyFix

from lti_bridge.web.context import services


def nonce() -> str:
    """This response's CSP nonce, for the inline ``<script>`` and ``<style>`` of a template."""
    value: str | None = g.get("csp_nonce")
    if value is None:
        value = g.csp_nonce = secrets.token_urlsafe(16)
    return value


def content_security_policy(script_nonce: str, frame_ancestors: list[str]) -> str:
    """The policy for one response."""
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'nonce-{script_nonce}'",
            f"style-src 'self' 'nonce-{script_nonce}'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors " + " ".join(["'self'", *frame_ancestors]),
        )
    )


def allow_framing_by(origin: str) -> None:
    """Let this response be framed by ``origin`` too: a registered platform's, known from state
    the tool keeps (a login), which this process's cache of origins may not have read yet."""
    g.frame_origin = origin


def _secure_headers(response: Response) -> Response:
    svc = services()
    ancestors = svc.platform_registrations.frame_origins() | set(svc.settings.frame_ancestors)
    if g.get("frame_origin"):
        ancestors = ancestors | {g.frame_origin}
    ancestors = sorted(ancestors)
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy(nonce(), ancestors))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def register(app: Flask) -> None:
    """Add the headers to every response; trust proxy headers only when configured."""
    app.after_request(_secure_headers)
    app.context_processor(lambda: {"csp_nonce": nonce})
    proxies = app.extensions["lti_bridge"].settings.trusted_proxies
    if proxies > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
