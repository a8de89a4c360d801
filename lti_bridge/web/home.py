"""``GET /``: what the tool is, its version, the URLs to give an LMS, and its health; no data."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from lti_bridge import version
from lti_bridge.web.context import public_base_url, services

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    """Show the tool's name, version, registration URLs and whether its database answers."""
    base = public_base_url()
    urls = [
        ("OIDC login (initiate login) URL", f"{base}/lti/login"),
        ("Redirect / launch URL, target link URI, deep linking URL", f"{base}/lti/launch"),
        ("Public keyset (JWKS) URL", f"{base}/lti/jwks"),
        ("Dynamic registration URL", f"{base}/lti/register"),
    ]
    database = "ok" if services().database_problem() is None else "unavailable"
    page = render_template(
        "home/index.html",
        version=version(),
        urls=urls,
        database=database,
        https=base.startswith("https://"),
        registration_open=bool(services().settings.registration_issuers),
    )
    return page, 200 if database == "ok" else 503
